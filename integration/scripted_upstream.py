"""A scripted OpenAI-compatible upstream for the integration tests.

It records every request (path, headers, exact body bytes) and answers as the request's
`x-script-*` headers say, so each test states its upstream's behaviour next to its assertions:

  x-script-content: text of the answer (default "Hello from the scripted upstream.")
  x-script-tools:   JSON list of {"name", "arguments"} tool calls to answer with when the request
                    offers tools, unless it ends with a tool's result: then the answer is "Tool said: <result>" (so a
                    client's tool loop ends, and its answer shows the tool really ran)
  x-script-thinking: reasoning to answer with first (chat: `reasoning_content`; Anthropic: a
                    thinking block signed "sig:<text>")
  x-script-usage:   JSON usage object to report instead of the fixed one (chat: OpenAI's shape,
                    e.g. with prompt_tokens_details.cached_tokens; Anthropic: its shape, the
                    stream's message_delta then carries its output_tokens)
  x-script:         a behaviour: status-<code> (error body quoting the upstream key; 429 and
                    529 with Retry-After: 1), anthropic-cut (an Anthropic stream that stops after
                    its first delta), sleep-<ms> (stall before the headers), no-done (stream ends
                    without [DONE]), cut (stream closes the socket mid-event), stall-mid (stream
                    stops sending halfway and holds the connection), malformed (an event whose
                    JSON is broken), huge-event (one 10 MB content event), drip (the whole stream
                    one byte per write), slow-stream[-N] (N, default 200,
                    events 50 ms apart), ignore-body (answers
                    before reading the request body, then closes), leak-escaped (a 400 whose body
                    quotes the upstream key JSON-escaped and percent-encoded), leak-stream (a 200
                    stream whose error event quotes the key); and x-script-echo: 1 echoes the
                    credential it received in an `x-echo-auth` answer header

A second argument sets the behaviour for requests without `x-script` (a faulty deployment for
failover tests). A request whose answer could not be written to the end is recorded with
"client_gone": true (the gateway cancelled it).

Paths under /v1/messages answer as Anthropic's API would (for the Claude pass-through tests):
a fixed message, or its event stream, with Anthropic's own `request-id` and rate-limit headers.

GET /_requests returns what was recorded; DELETE /_requests clears it.
Run: python scripted_upstream.py PORT
"""

import base64
import json
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDED = []
LOCK = threading.Lock()
UPSTREAM_KEY = "sk-upstream-secret-do-not-leak"


def chunk(cid, model, choices, usage=..., created=1700000000):
    obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if usage is not ...:
        obj["usage"] = usage
    return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def echo_headers(self):
        """An upstream that echoes the credential it got (x-script-echo)."""
        if not self.headers.get("x-script-echo"):
            return
        got = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
        self.send_header("x-echo-auth", got)
        self.send_header("x-echo-basic", base64.b64encode(f"api:{UPSTREAM_KEY}".encode()).decode())

    def _send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "upstream-req-1")
        self.echo_headers()
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                self._send(200, RECORDED)
        elif self.path.endswith("/models"):
            self._send(200, {"object": "list", "data": []})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_DELETE(self):
        with LOCK:
            RECORDED.clear()
        self._send(200, {"ok": True})

    def do_POST(self):
        script = self.headers.get("x-script", DEFAULT_SCRIPT)
        if script == "ignore-body":
            self.close_connection = True
            return self._send(200, {"id": "chatcmpl-early", "object": "chat.completion", "created": 1700000000,
                                    "model": "early", "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "answered before reading"}}],
                                    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", "replace"),
        }
        with LOCK:
            RECORDED.append(record)
        try:
            self.respond(raw, script)
        except (BrokenPipeError, ConnectionResetError):
            record["client_gone"] = True
            self.close_connection = True

    def respond(self, raw, script):
        if script.startswith("status-"):
            code = int(script.split("-", 1)[1])
            extra = (("retry-after", "1"),) if code in (429, 529) else ()
            return self._send(code, {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}",
                                               "type": "upstream_error", "code": str(code)}}, headers=extra)
        if script == "leak-escaped":
            escaped = UPSTREAM_KEY.replace("-", "\\u002d")
            percent = "".join(f"%{b:02X}" for b in UPSTREAM_KEY.encode())
            body = ('{"error": {"message": "key ' + escaped + ' (url ' + percent + ')", "type": "invalid_request_error"},'
                    ' "type": "error"}').encode()
            return self._send(400, body)
        if script == "leak-stream":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.echo_headers()
            self.end_headers()
            if self.path.startswith("/v1/messages"):
                events = ['event: error\ndata: {"type": "error", "error": {"type": "api_error", "message": "bad key '
                          + UPSTREAM_KEY + '"}}\n\n']
            else:
                events = ['data: {"error": {"message": "bad key ' + UPSTREAM_KEY + '"}}\n\n']
            for ev in events:
                data = ev.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if script.startswith("sleep-"):
            time.sleep(int(script.split("-", 1)[1]) / 1000)
        req = json.loads(raw)
        if self.path.startswith("/v1/messages"):
            return self.anthropic(req, script)
        if self.path.endswith("/embeddings"):
            return self.embeddings(req)
        if self.path.endswith("/chat/completions"):
            return self.chat(req, script)
        self._send(404, {"error": {"message": "unknown path"}})

    ANTHROPIC_HEADERS = (("request-id", "req_upstream_anthropic_1"),
                         ("anthropic-ratelimit-requests-limit", "4000"),
                         ("anthropic-ratelimit-requests-remaining", "3999"))

    def anthropic(self, req, script):
        if self.path.startswith("/v1/messages/count_tokens"):
            return self._send(200, {"input_tokens": 4242}, headers=self.ANTHROPIC_HEADERS)
        text = self.headers.get("x-script-content", "Claude says hi.")
        tools = json.loads(self.headers.get("x-script-tools", "[]"))
        thinking = self.headers.get("x-script-thinking")
        if not req.get("tools"):
            tools = []
        result = anthropic_tool_result(req)
        if result is not None and tools:
            tools, text = [], "Tool said: " + result
        usage = {"input_tokens": 30, "output_tokens": 9, "cache_read_input_tokens": 12,
                 "cache_creation_input_tokens": 0}
        if self.headers.get("x-script-usage"):
            usage = json.loads(self.headers["x-script-usage"])
        stop = "tool_use" if tools else "end_turn"
        if not req.get("stream"):
            content = [{"type": "thinking", "thinking": thinking, "signature": "sig:" + thinking}] if thinking else []
            content += [{"type": "text", "text": text}]
            content += [{"type": "tool_use", "id": f"toolu_{i}", "name": t["name"], "input": json.loads(t["arguments"])}
                        for i, t in enumerate(tools)]
            return self._send(200, {"id": "msg_upstream_1", "type": "message", "role": "assistant",
                                    "model": req["model"], "content": content,
                                    "stop_reason": stop, "stop_sequence": None, "usage": usage},
                              headers=self.ANTHROPIC_HEADERS)
        def ev(name, data):
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        events = [
            ev("message_start", {"type": "message_start", "message": {
                "id": "msg_upstream_1", "type": "message", "role": "assistant", "model": req["model"],
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}}),
            ev("ping", {"type": "ping"}),
        ]
        first = 0
        if thinking:
            events += [
                ev("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "thinking_delta", "thinking": thinking}}),
                ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "signature_delta", "signature": "sig:" + thinking}}),
                ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ]
            first = 1
        events.append(ev("content_block_start", {"type": "content_block_start", "index": first,
                                                 "content_block": {"type": "text", "text": ""}}))
        events += [ev("content_block_delta", {"type": "content_block_delta", "index": first,
                                              "delta": {"type": "text_delta", "text": text[j:j + 5]}})
                   for j in range(0, len(text), 5)]
        events.append(ev("content_block_stop", {"type": "content_block_stop", "index": first}))
        for i, t in enumerate(tools, start=first + 1):
            events.append(ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": f"toolu_{i - first - 1}", "name": t["name"], "input": {}}}))
            args = t["arguments"]
            events += [ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                                  "delta": {"type": "input_json_delta", "partial_json": args[j:j + 6]}})
                       for j in range(0, len(args), 6)]
            events.append(ev("content_block_stop", {"type": "content_block_stop", "index": i}))
        events += [
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                 "usage": {"output_tokens": usage["output_tokens"]}}),
            ev("message_stop", {"type": "message_stop"}),
        ]
        if script == "anthropic-cut":
            events = events[:4]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        for k, v in self.ANTHROPIC_HEADERS:
            self.send_header(k, v)
        self.echo_headers()
        self.end_headers()
        for data in events:
            for part in (data[:11], data[11:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
        # As a real server does, the body's end comes a moment after the last event: by then a
        # client that has read message_stop may already have closed its connection.
        time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def embeddings(self, req):
        inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
        data = []
        for i, text in enumerate(inputs):
            vec = [float(len(str(text))), 0.5, -0.25, float(i)]
            if req.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack("<4f", *vec)).decode()
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        self._send(200, {"object": "list", "data": data, "model": req["model"],
                         "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})

    def chat(self, req, script):
        content = self.headers.get("x-script-content", "Hello from the scripted upstream.")
        tools = json.loads(self.headers.get("x-script-tools", "[]"))
        if not req.get("tools"):
            tools = []
        last = (req.get("messages") or [{}])[-1]
        if tools and last.get("role") == "tool":
            tools, content = [], "Tool said: " + text_of(last.get("content"))
        model = req["model"]
        n = req.get("n", 1)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if self.headers.get("x-script-usage"):
            usage = json.loads(self.headers["x-script-usage"])
        finish = "tool_calls" if tools else "stop"
        thinking = self.headers.get("x-script-thinking")
        if not req.get("stream"):
            message = {"role": "assistant", "content": None if tools else content}
            if thinking:
                message["reasoning_content"] = thinking
            if tools:
                message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                          "function": {"name": t["name"], "arguments": t["arguments"]}}
                                         for i, t in enumerate(tools)]
            choices = [{"index": i, "message": message, "finish_reason": finish, "logprobs": None}
                       for i in range(n)]
            return self._send(200, {"id": "chatcmpl-s1", "object": "chat.completion", "created": 1700000000,
                                    "model": model, "choices": choices, "usage": usage})
        include_usage = (req.get("stream_options") or {}).get("include_usage", False)
        u = None if include_usage else ...
        events = [chunk("c1", model, [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None}], u)]
        if thinking:
            events.append(chunk("c1", model, [{"index": 0, "delta": {"reasoning_content": thinking},
                                               "finish_reason": None}], u))
        if tools:
            # Two parallel calls with interleaved argument fragments.
            for i, t in enumerate(tools):
                events.append(chunk("c1", model, [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "id": f"call_{i}", "type": "function",
                     "function": {"name": t["name"], "arguments": ""}}]}, "finish_reason": None}], u))
            frags = [[a[j:j + 5] for j in range(0, len(a), 5)] for a in (t["arguments"] for t in tools)]
            for k in range(max(len(f) for f in frags)):
                for i, f in enumerate(frags):
                    if k < len(f):
                        events.append(chunk("c1", model, [{"index": 0, "delta": {"tool_calls": [
                            {"index": i, "function": {"arguments": f[k]}}]}, "finish_reason": None}], u))
        else:
            for j in range(0, len(content), 4):
                events.append(chunk("c1", model, [{"index": 0, "delta": {"content": content[j:j + 4]},
                                                   "finish_reason": None}], u))
        events.append(chunk("c1", model, [{"index": 0, "delta": {}, "finish_reason": finish}], u))
        if include_usage:
            events.append(chunk("c1", model, [], usage))
        if script != "no-done":
            events.append("data: [DONE]\n\n")
        if script == "malformed":
            events.insert(2, 'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "x"\n\n')
        if script == "huge-event":
            events.insert(1, chunk("c1", model, [{"index": 0, "delta": {"content": "x" * (10 << 20)},
                                                  "finish_reason": None}], u))
        if script.startswith("slow-stream"):
            n = int(script.split("-")[2]) if script.count("-") == 2 else 200
            events[1:1] = [chunk("c1", model, [{"index": 0, "delta": {"content": "."}, "finish_reason": None}], u)
                           for _ in range(n)]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.echo_headers()
        self.end_headers()
        if script == "drip":
            for b in "".join(events).encode():
                self.wfile.write(b"1\r\n%c\r\n" % b)
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        for idx, ev in enumerate(events):
            if script == "stall-mid" and idx == len(events) // 2:
                time.sleep(30)
            if script.startswith("slow-stream"):
                time.sleep(0.05)
            data = ev.encode()
            if script == "cut" and idx == len(events) // 2:
                half = data[: len(data) // 2]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            # Split every event in two writes so the gateway sees events across reads.
            for part in (data[:7], data[7:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
        # The end of the body a moment after [DONE], which clients stop reading at.
        time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


DEFAULT_SCRIPT = ""


def text_of(content):
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def anthropic_tool_result(req):
    """The text of the tool result the last user turn ends with, if it does."""
    last = (req.get("messages") or [{}])[-1]
    blocks = last.get("content") if last.get("role") == "user" else None
    results = [b for b in blocks if b.get("type") == "tool_result"] if isinstance(blocks, list) else []
    return text_of(results[-1].get("content")) if results else None


def main():
    global DEFAULT_SCRIPT
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        DEFAULT_SCRIPT = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"scripted upstream on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Issue 18: OpenTelemetry traces. Gateways export to a real OTLP/HTTP receiver
(`otlp_sink.py`, decoding the official protobuf with `opentelemetry-proto`); each test finds its
request's spans by the gateway's request id and checks the GenAI and sovereignty attributes, the
upstream attempts, the W3C trace context the upstream received, and that no prompt or answer text
is in any span. Dead collectors (a refused port, a port that never answers) cost requests nothing:
the spans are dropped and counted."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import CLIENT_KEY, Process, free_port, metric, small_config, wait_http
from stavkeys import record

HERE = Path(__file__).parent
PROMPT = "Quokka-7781 prompt text that must never reach a span"
ANSWER = "Narwhal-3319 answer text that must never reach a span"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
MSG = [{"role": "user", "content": PROMPT}]
SCRIPT = {"x-script-content": ANSWER, "traceparent": CLIENT_TRACEPARENT, "tracestate": "client=1"}


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def config(port, admin, up, bad, telemetry):
    models = f"""
[[providers]]
name = "anthropic-scripted"
api = "anthropic"
base_url = "http://127.0.0.1:{up}"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]

[[providers]]
name = "bad"
api = "openai"
base_url = "http://127.0.0.1:{bad}/v1"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*", "traceparent", "tracestate"]

[[models]]
name = "chat-up"
provider = "scripted"
upstream_model = "scripted/chat-up"
tier = "sovereign"

[[models]]
name = "claude-*"
provider = "anthropic-scripted"
tier = "global-commercial"

[[models]]
name = "fo-503"
provider = "bad"
tier = "sovereign"

[[models]]
name = "fo-503"
provider = "scripted"
upstream_model = "good-model"
tier = "sovereign"
priority = 1

[[teams]]
name = "it"
router = {{ default = "chat-a" }}

[telemetry]
{telemetry}
"""
    return small_config(port, admin, up, '[store]\nkind = "file"\npath = "keys.toml"') + models


class Sink:
    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}"

    def spans(self):
        return get_json(self.url + "/_spans")

    def request(self, request_id, n_spans=None, timeout=15):
        """The spans of one request: its SERVER span (found by `stav.request_id`) and children."""
        deadline = time.time() + timeout
        while True:
            spans = self.spans()
            server = [s for s in spans if s["attributes"].get("stav.request_id") == request_id]
            if server:
                children = [s for s in spans if s["parent_span_id"] == server[0]["span_id"]]
                if n_spans is None or 1 + len(children) >= n_spans:
                    return server[0], sorted(children, key=lambda s: s["attributes"]["stav.attempt"])
            if time.time() > deadline:
                raise AssertionError(f"no spans for {request_id}; have {[s['name'] for s in spans]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def otel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otel")
    sink_port, up, bad = free_port(), free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "otlp_sink.py"), str(sink_port)], stdout=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(HERE / "scripted_upstream.py"), str(up)], stdout=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(HERE / "scripted_upstream.py"), str(bad), "status-503"],
                         stdout=subprocess.DEVNULL),
    ]
    (tmp / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    gateways = {}
    try:
        for p in (sink_port, up, bad):
            wait_http(f"http://127.0.0.1:{p}/_requests" if p != sink_port else f"http://127.0.0.1:{p}/_spans")
        endpoint = f'otlp_endpoint = "http://127.0.0.1:{sink_port}"'
        for name, extra in [
            ("own", 'service_name = "stav-own"\nheaders = { authorization = "Bearer collector-token" }'),
            ("trusting", 'service_name = "stav-trusting"\ntrust_client_trace = true'),
        ]:
            port, admin = free_port(), free_port()
            path = tmp / f"{name}.toml"
            path.write_text(config(port, admin, up, bad, endpoint + "\n" + extra))
            gateways[name] = Process(path, port, admin, up)
        yield gateways, Sink(sink_port), up, bad
    finally:
        for g in gateways.values():
            g.stop()
        for p in procs:
            p.terminate()
            p.wait(10)


def oa(g):
    return openai.OpenAI(base_url=g.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=15)


def an(g):
    return anthropic.Anthropic(base_url=g.gw.base, api_key=CLIENT_KEY, max_retries=0, timeout=15)


def upstream_headers(port, request_id):
    """The headers the scripted upstream on `port` received for the gateway's `request_id`."""
    got = [r["headers"] for r in get_json(f"http://127.0.0.1:{port}/_requests")
           if r["headers"].get("x-request-id") == request_id]
    assert got, f"upstream {port} never saw {request_id}"
    return got


def common(server, name, model, provider, tier="sovereign"):
    a = server["attributes"]
    assert server["kind"] == "SERVER"
    assert server["name"] == name
    assert a["gen_ai.request.model"] == model
    assert a["gen_ai.provider.name"] == provider
    assert a["stav.sovereignty.tier"] == tier
    assert a["stav.max_tier"] == "global-commercial"
    assert a["stav.cap_causes"] == ["team"]
    assert a["stav.key_id"] == "itclient0001"
    assert a["stav.team"] == "it"
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a
    assert server["status"] == "UNSET"


def test_chat_completions_pass_through(otel):
    gws, sink, up, _ = otel
    g = gws["own"]
    raw = oa(g).chat.completions.with_raw_response.create(model="chat-up", messages=MSG, max_tokens=50,
                                                          extra_headers=SCRIPT)
    assert raw.parse().choices[0].message.content == ANSWER
    rid = raw.headers["x-request-id"]
    server, children = sink.request(rid, 2)
    common(server, "chat chat-up", "chat-up", "scripted")
    a = server["attributes"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.response.model"] == "scripted/chat-up"
    assert a["gen_ai.request.max_tokens"] == 50
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == up
    assert a["http.route"] == "/v1/chat/completions" and a["http.request.method"] == "POST"
    assert a["stav.stream"] is False and not server["events"]
    assert server["service"] == "stav-own" and server["scope"] == "stav-gateway"
    assert server["headers"]["authorization"] == "Bearer collector-token"
    # Not trusted: the client's trace is not joined.
    assert server["trace_id"] != CLIENT_TRACE and server["parent_span_id"] == ""
    [attempt] = children
    assert attempt["kind"] == "CLIENT" and attempt["name"] == "chat scripted/chat-up"
    assert attempt["attributes"]["stav.attempt.outcome"] == "ok"
    assert attempt["attributes"]["http.response.status_code"] == 200
    assert attempt["trace_id"] == server["trace_id"]
    # The upstream joins the gateway's trace under the attempt's span; the client's headers stay.
    [h] = upstream_headers(up, rid)
    assert h["traceparent"] == f"00-{server['trace_id']}-{attempt['span_id']}-01"
    assert "tracestate" not in h


def test_stream_has_a_first_token_event(otel):
    gws, sink, _, _ = otel
    g = gws["own"]
    raw = oa(g).chat.completions.with_raw_response.create(model="chat-up", messages=MSG, stream=True,
                                                          extra_headers=SCRIPT)
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == ANSWER
    server, _ = sink.request(raw.headers["x-request-id"], 2)
    a = server["attributes"]
    assert a["stav.stream"] is True
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    [event] = server["events"]
    assert event["name"] == "gen_ai.first_token"
    assert server["start"] < event["time"] <= server["end"]
    assert 0 < event["attributes"]["gen_ai.server.time_to_first_token"] < 15


def test_anthropic_messages_translated(otel):
    gws, sink, _, _ = otel
    raw = an(gws["own"]).messages.with_raw_response.create(model="chat-up", max_tokens=40, messages=MSG,
                                                           extra_headers=SCRIPT)
    assert raw.parse().content[0].text == ANSWER
    server, [attempt] = sink.request(raw.headers["request-id"], 2)
    common(server, "chat chat-up", "chat-up", "scripted")
    a = server["attributes"]
    assert a["http.route"] == "/v1/messages" and a["stav.provider.api"] == "openai"
    assert a["gen_ai.request.max_tokens"] == 40
    assert attempt["attributes"]["gen_ai.provider.name"] == "scripted"


def test_claude_verbatim(otel):
    gws, sink, up, _ = otel
    raw = an(gws["own"]).messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=40,
                                                           messages=MSG, extra_headers=SCRIPT)
    assert raw.parse().content[0].text == ANSWER
    rid = raw.headers["x-request-id"]
    server, [attempt] = sink.request(rid, 2)
    common(server, "chat claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic-scripted", "global-commercial")
    a = server["attributes"]
    assert a["stav.provider.api"] == "anthropic"
    assert a["gen_ai.response.model"] == "claude-sonnet-4-5"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (42, 9)
    assert attempt["name"] == "chat claude-sonnet-4-5"
    [h] = upstream_headers(up, rid)
    assert h["traceparent"] == f"00-{server['trace_id']}-{attempt['span_id']}-01"


def test_responses_api(otel):
    gws, sink, _, _ = otel
    raw = oa(gws["own"]).responses.with_raw_response.create(model="chat-up", input=PROMPT,
                                                            max_output_tokens=30, extra_headers=SCRIPT)
    assert raw.parse().output_text == ANSWER
    server, [attempt] = sink.request(raw.headers["x-request-id"], 2)
    common(server, "chat chat-up", "chat-up", "scripted")
    assert server["attributes"]["http.route"] == "/v1/responses"
    assert server["attributes"]["gen_ai.request.max_tokens"] == 30
    rid = raw.parse().id
    # Reading it back is the gateway's own answer: an HTTP-named span, no GenAI operation.
    got = oa(gws["own"]).responses.with_raw_response.retrieve(rid)
    server, children = sink.request(got.headers["x-request-id"])
    assert server["name"] == "GET /v1/responses/{id}" and not children
    assert "gen_ai.operation.name" not in server["attributes"]


def test_embeddings(otel):
    gws, sink, _, _ = otel
    raw = oa(gws["own"]).embeddings.with_raw_response.create(model="emb-a", input=[PROMPT])
    assert len(raw.parse().data) == 1
    server, [attempt] = sink.request(raw.headers["x-request-id"], 2)
    common(server, "embeddings emb-a", "emb-a", "scripted")
    assert server["attributes"]["gen_ai.operation.name"] == "embeddings"
    assert server["attributes"]["gen_ai.usage.input_tokens"] == 1
    assert attempt["name"] == "embeddings emb-a"


def test_count_tokens(otel):
    gws, sink, _, _ = otel
    c = an(gws["own"])
    # A translated model: counted by the gateway, no upstream attempt.
    raw = c.messages.with_raw_response.count_tokens(model="chat-up", messages=MSG)
    server, children = sink.request(raw.headers["request-id"])
    common(server, "count_tokens chat-up", "chat-up", "scripted")
    assert server["attributes"]["gen_ai.operation.name"] == "count_tokens" and not children
    assert "gen_ai.response.model" not in server["attributes"]
    # Claude: passed through, one attempt.
    raw = c.messages.with_raw_response.count_tokens(model="claude-opus-4-1", messages=MSG)
    # Claude's verbatim path keeps Anthropic's own `request-id`; ours is `x-request-id`.
    server, [attempt] = sink.request(raw.headers["x-request-id"], 2)
    common(server, "count_tokens claude-opus-4-1", "claude-opus-4-1", "anthropic-scripted", "global-commercial")
    assert attempt["name"] == "count_tokens claude-opus-4-1"


def test_a_sovereignty_refusal_carries_the_decision(otel):
    gws, sink, up, _ = otel
    before = len(get_json(f"http://127.0.0.1:{up}/_requests"))
    with pytest.raises(openai.PermissionDeniedError) as e:
        oa(gws["own"]).chat.completions.create(
            model="claude-sonnet-4-5", extra_headers={"x-stav-max-tier": "routed-commercial"},
            messages=[{"role": "user", "content": PROMPT + " write to anna.berg@example.com"}])
    server, children = sink.request(e.value.response.headers["x-request-id"])
    a = server["attributes"]
    assert server["name"] == "chat" and not children
    assert a["http.response.status_code"] == 403
    assert a["error.type"] == "sovereignty_policy_violation"
    assert a["stav.sovereignty.tier"] == "none"
    assert a["stav.max_tier"] == "sovereign"
    assert a["stav.cap_causes"] == ["sensitive:email"]
    assert len(get_json(f"http://127.0.0.1:{up}/_requests")) == before
    # A header cap that wins is named as such; `auto` names the router's reason.
    raw = oa(gws["own"]).chat.completions.with_raw_response.create(
        model="auto", messages=MSG, extra_headers={"x-stav-max-tier": "sovereign"})
    server, _ = sink.request(raw.headers["x-request-id"], 2)
    a = server["attributes"]
    assert server["name"] == "chat auto" and a["gen_ai.request.model"] == "auto"
    assert a["stav.cap_causes"] == ["header"] and a["stav.max_tier"] == "sovereign"
    assert a["stav.routing.reason"] == raw.headers["x-stav-routing-reason"].replace("->", "→")


def test_failover_is_two_attempts(otel):
    gws, sink, up, bad = otel
    raw = oa(gws["own"]).chat.completions.with_raw_response.create(model="fo-503", messages=MSG,
                                                                   extra_headers=SCRIPT)
    assert raw.parse().choices[0].message.content == ANSWER
    rid = raw.headers["x-request-id"]
    server, (first, second) = sink.request(rid, 3)
    assert server["attributes"]["stav.attempts"] == 2
    assert server["attributes"]["gen_ai.provider.name"] == "scripted"
    assert server["attributes"]["gen_ai.response.model"] == "good-model"
    f, s = first["attributes"], second["attributes"]
    assert (f["gen_ai.provider.name"], f["stav.deployment"]) == ("bad", "fo-503@bad")
    assert (f["stav.attempt.outcome"], f["http.response.status_code"], f["error.type"]) == ("status_5xx", 503, "status_5xx")
    assert first["status"] == "ERROR"
    assert (s["gen_ai.provider.name"], s["stav.attempt.outcome"], s["http.response.status_code"]) == ("scripted", "ok", 200)
    assert s["gen_ai.request.model"] == "good-model" and second["status"] == "UNSET"
    assert first["end"] <= second["start"]
    # Each deployment saw its own attempt as the parent; `bad` forwards client trace headers by
    # configuration, and still gets only the gateway's.
    [hb] = upstream_headers(bad, rid)
    [hg] = upstream_headers(up, rid)
    assert hb["traceparent"] == f"00-{server['trace_id']}-{first['span_id']}-01"
    assert hg["traceparent"] == f"00-{server['trace_id']}-{second['span_id']}-01"
    assert "tracestate" not in hb


def test_a_trusted_clients_trace_is_joined(otel):
    gws, sink, up, _ = otel
    raw = oa(gws["trusting"]).chat.completions.with_raw_response.create(model="chat-up", messages=MSG,
                                                                        extra_headers=SCRIPT)
    rid = raw.headers["x-request-id"]
    server, [attempt] = sink.request(rid, 2)
    assert server["service"] == "stav-trusting"
    assert server["trace_id"] == CLIENT_TRACE and server["parent_span_id"] == CLIENT_SPAN
    assert attempt["trace_id"] == CLIENT_TRACE
    [h] = upstream_headers(up, rid)
    # The client's trace, the gateway's span as the parent, the client's trace state carried on.
    assert h["traceparent"] == f"00-{CLIENT_TRACE}-{attempt['span_id']}-01"
    assert h["tracestate"] == "client=1"
    # A client that did not sample its trace: the gateway records nothing and says so upstream.
    unsampled = {**SCRIPT, "traceparent": CLIENT_TRACEPARENT[:-2] + "00"}
    raw = oa(gws["trusting"]).chat.completions.with_raw_response.create(model="chat-up", messages=MSG,
                                                                        extra_headers=unsampled)
    [h] = upstream_headers(up, raw.headers["x-request-id"])
    assert h["traceparent"].startswith(f"00-{CLIENT_TRACE}-") and h["traceparent"].endswith("-00")
    # The own-trace gateway's spans are exported in order; one made after the unsampled request
    # arriving means the unsampled one was never sent.
    later = oa(gws["trusting"]).chat.completions.with_raw_response.create(model="chat-up", messages=MSG)
    sink.request(later.headers["x-request-id"], 2)
    assert not [s for s in sink.spans() if s["attributes"].get("stav.request_id") == raw.headers["x-request-id"]]


def test_no_prompt_or_answer_text_in_any_span(otel):
    gws, sink, _, _ = otel
    g = gws["own"]
    # Every mode once more, then every recorded span, every attribute and event.
    oa(g).chat.completions.create(model="chat-up", messages=MSG, extra_headers=SCRIPT)
    an(g).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSG, extra_headers=SCRIPT)
    last = oa(g).embeddings.with_raw_response.create(model="emb-a", input=[PROMPT])
    sink.request(last.headers["x-request-id"], 2)
    spans = sink.spans()
    assert len(spans) > 20
    text = json.dumps([{k: v for k, v in s.items() if k != "headers"} for s in spans])
    for marker in ("Quokka", "Narwhal", "anna.berg", "example.com", CLIENT_KEY, "sk-upstream"):
        assert marker not in text, marker


def test_genai_metrics_and_export_counters(otel):
    gws, _, _, _ = otel
    text = gws["own"].gw.metrics()
    assert metric(text, "gen_ai_client_token_usage_count", operation="chat", model="chat-up", type="input",
                  tier="sovereign") >= 1
    assert metric(text, "gen_ai_client_token_usage_sum", operation="embeddings", model="emb-a", type="input",
                  tier="sovereign") >= 1
    assert metric(text, "gen_ai_server_time_to_first_token_count", operation="chat", model="chat-up",
                  tier="sovereign") >= 1
    assert metric(text, "stav_otel_spans_exported_total") >= 10
    assert metric(text, "stav_otel_spans_dropped_total", reason="export_failed") == 0
    assert metric(text, "stav_otel_spans_dropped_total", reason="queue_full") == 0


@pytest.fixture(scope="module")
def dead_collectors(tmp_path_factory):
    """Two gateways whose collector is dead: one on a port nobody listens on (refused at once),
    one on a socket that accepts connections and never answers (every export waits its timeout)."""
    tmp = tmp_path_factory.mktemp("otel-dead")
    up = free_port()
    upstream = subprocess.Popen([sys.executable, str(HERE / "scripted_upstream.py"), str(up)],
                                stdout=subprocess.DEVNULL)
    (tmp / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    gateways = {}
    try:
        wait_http(f"http://127.0.0.1:{up}/_requests")
        for name, endpoint in [("refused", free_port()), ("silent", hole.getsockname()[1])]:
            port, admin = free_port(), free_port()
            path = tmp / f"{name}.toml"
            path.write_text(small_config(port, admin, up, '[store]\nkind = "file"\npath = "keys.toml"')
                            + f'\n[telemetry]\notlp_endpoint = "http://127.0.0.1:{endpoint}"\n')
            gateways[name] = Process(path, port, admin, up)
        yield gateways
    finally:
        for g in gateways.values():
            g.stop()
        hole.close()
        upstream.terminate()
        upstream.wait(10)


@pytest.mark.parametrize("name", ["refused", "silent"])
def test_a_dead_collector_costs_requests_nothing(dead_collectors, name):
    g = dead_collectors[name]
    c = openai.OpenAI(base_url=g.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=5)
    for i in range(40):
        r = c.chat.completions.create(model="chat-a", messages=MSG, stream=i % 2 == 1)
        if i % 2:
            assert "".join(x.choices[0].delta.content or "" for x in r if x.choices)
        else:
            assert r.choices[0].message.content
    # Every span of those 40 requests (a server span and an attempt each) is counted as dropped
    # once its export fails: at once when refused, after the export timeout when silent.
    deadline = time.time() + 20
    while True:
        text = g.gw.metrics()
        dropped = metric(text, "stav_otel_spans_dropped_total", reason="export_failed")
        if dropped >= 80 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert dropped >= 80, text
    assert metric(text, "stav_otel_spans_exported_total") == 0
    assert metric(text, "stav_http_requests_total", route="chat_completions", model="chat-a",
                  status_class="2xx") == 40

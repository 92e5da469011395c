"""A real OTLP/HTTP trace receiver for the tests: POST /v1/traces with an
ExportTraceServiceRequest in protobuf (decoded with the official `opentelemetry-proto` package)
is answered with an empty ExportTraceServiceResponse, and every span is recorded.

GET /_spans returns the recorded spans as JSON: trace_id, span_id, parent_span_id (hex, "" for
none), name, kind (SERVER, CLIENT, ...), attributes (name → value; arrays as lists), events
(name, attributes), status (UNSET, OK, ERROR), service (the resource's service.name), and the
request's own headers (`headers`, lower-case). DELETE /_spans clears them; GET /_posts counts
export requests.

Run: python otlp_sink.py PORT
"""

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SPANS = []
POSTS = [0]
LOCK = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind) if kind else None


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def decode(body, headers):
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": Span.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "events": [{"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes)}
                               for e in s.events],
                    "status": Status.StatusCode.Name(s.status.code).removeprefix("STATUS_CODE_"),
                    "status_message": s.status.message,
                    "service": resource.get("service.name"),
                    "scope": ss.scope.name,
                    "headers": headers,
                })
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            if self.path == "/_spans":
                return self._send(200, SPANS)
            if self.path == "/_posts":
                return self._send(200, {"posts": POSTS[0]})
        self._send(404, {})

    def do_DELETE(self):
        with LOCK:
            SPANS.clear()
            POSTS[0] = 0
        self._send(200, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces":
            return self._send(404, {})
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.headers.get("content-type") != "application/x-protobuf":
            return self._send(415, {})
        spans = decode(body, {k.lower(): v for k, v in self.headers.items()})
        with LOCK:
            SPANS.extend(spans)
            POSTS[0] += 1
        self._send(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

"""The OpenAI contract end to end: the official `openai` SDK → the gateway → a scripted upstream."""

import http.client
import json
import re
import time

import openai
import pytest
from stavkeys import make_key
from pydantic import BaseModel

from conftest import CLIENT_KEY, UPSTREAM_KEY, metric, read_response


def raw_post(gateway, path, body: bytes, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    h = {"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"}
    h.update(headers or {})
    conn.request("POST", path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def last_upstream(gateway):
    reqs = gateway.upstream_requests()
    assert reqs, "nothing reached the upstream"
    return reqs[-1]


# --- success paths -----------------------------------------------------------------------------

def test_create_answers_with_content_tier_and_request_id(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="chat-a", messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"x-script-content": "Bonjour from the EU."})
    completion = raw.parse()
    assert completion.choices[0].message.content == "Bonjour from the EU."
    assert raw.headers["x-stav-sovereignty-tier"] == "sovereign"
    rid = raw.headers["x-request-id"]
    assert re.fullmatch(r"req_[0-9a-f]{24}", rid)
    assert completion._request_id == rid
    assert raw.headers["x-upstream-request-id"] == "upstream-req-1"
    # The access line is written as the request ends, just after the last byte went out.
    deadline = time.time() + 3
    while rid not in gateway.log() and time.time() < deadline:
        time.sleep(0.02)
    assert rid in gateway.log()


def test_tier_header_follows_the_model(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="chat-b", messages=[{"role": "user", "content": "Hi"}])
    assert raw.headers["x-stav-sovereignty-tier"] == "routed-commercial"


def test_body_goes_upstream_byte_for_byte_except_model(gateway):
    body = ('{"messages":[{"role":"user","content":"caf\\u00e9 \u2713"}],  "model" : "chat-a",'
            '"n":2,"x_future_field":{"model":"keep-me","deep":[1,2.50,true]},"temperature":0.70}').encode()
    status, headers, data = raw_post(gateway, "/v1/chat/completions", body,
                                     {"x-api-key": CLIENT_KEY, "accept-encoding": "gzip"})
    assert status == 200, data
    up = last_upstream(gateway)
    assert up["path"] == "/v1/chat/completions"
    assert up["body"].encode() == body.replace(b'"chat-a"', b'"scripted/chat-a"')
    assert up["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-api-key" not in up["headers"]
    assert CLIENT_KEY not in json.dumps(up["headers"])
    assert up["headers"]["x-request-id"] == headers["x-request-id"]
    assert len(json.loads(data)["choices"]) == 2


def test_sdk_fields_tools_n_and_unknown_fields_survive(gateway, openai_client):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    openai_client.chat.completions.create(
        model="chat-a", messages=[{"role": "user", "content": "Weather in Ghent?"}], tools=tools,
        tool_choice="auto", n=1, seed=7, parallel_tool_calls=True, extra_body={"vendor_knob": {"a": [1]}},
        extra_headers={"x-script-tools": json.dumps([{"name": "get_weather", "arguments": '{"city":"Ghent"}'}])})
    sent = json.loads(last_upstream(gateway)["body"])
    assert sent["model"] == "scripted/chat-a"
    assert sent["tools"] == tools
    assert sent["vendor_knob"] == {"a": [1]}
    assert sent["seed"] == 7 and sent["parallel_tool_calls"] is True


def test_non_streaming_tool_call(openai_client):
    c = openai_client.chat.completions.create(
        model="chat-a", messages=[{"role": "user", "content": "Weather?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        extra_headers={"x-script-tools": json.dumps([{"name": "get_weather", "arguments": '{"city":"Graz"}'}])})
    call = c.choices[0].message.tool_calls[0]
    assert c.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Graz"}


def test_stream_text_without_usage_when_not_asked(gateway, openai_client):
    text = "Streaming through Stav, chunk by chunk."
    chunks = list(openai_client.chat.completions.create(
        model="chat-a", messages=[{"role": "user", "content": "stream"}], stream=True,
        extra_headers={"x-script-content": text}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    # The gateway forced include_usage upstream for metering; the client must not see it.
    assert json.loads(last_upstream(gateway)["body"])["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)
    assert all(c.usage is None and "usage" not in (c.model_extra or {}) for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1


def test_stream_with_usage_when_asked(openai_client):
    chunks = list(openai_client.chat.completions.create(
        model="chat-a", messages=[{"role": "user", "content": "stream"}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 11
    assert chunks[-1].usage.completion_tokens == 7


def test_stream_parallel_tool_calls_through_the_stream_helper(openai_client):
    calls = [{"name": "get_weather", "arguments": '{"city": "Ljubljana", "unit": "c"}'},
             {"name": "get_time", "arguments": '{"tz": "Europe/Tallinn"}'}]
    tools = [{"type": "function", "function": {"name": c["name"], "parameters": {"type": "object"}}} for c in calls]
    with openai_client.chat.completions.stream(
            model="chat-a", messages=[{"role": "user", "content": "both"}], tools=tools,
            extra_headers={"x-script-tools": json.dumps(calls)}) as stream:
        final = stream.get_final_completion()
    got = final.choices[0].message.tool_calls
    assert [t.function.name for t in got] == ["get_weather", "get_time"]
    assert [json.loads(t.function.arguments) for t in got] == [json.loads(c["arguments"]) for c in calls]
    assert [t.id for t in got] == ["call_0", "call_1"]
    assert final.choices[0].finish_reason == "tool_calls"


class Capital(BaseModel):
    country: str
    capital: str
    population_millions: float


def test_parse_with_json_schema(gateway, openai_client):
    answer = {"country": "Estonia", "capital": "Tallinn", "population_millions": 0.45}
    c = openai_client.chat.completions.parse(
        model="chat-a", messages=[{"role": "user", "content": "Capital of Estonia?"}], response_format=Capital,
        extra_headers={"x-script-content": json.dumps(answer)})
    assert c.choices[0].message.parsed == Capital(**answer)
    sent = json.loads(last_upstream(gateway)["body"])
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Capital"


def test_embeddings_float_and_base64(gateway, openai_client):
    # The SDK asks for base64 by default and decodes it.
    r = openai_client.embeddings.create(model="emb-a", input=["sovereign", "ai"])
    assert [d.embedding for d in r.data] == [[9.0, 0.5, -0.25, 0.0], [2.0, 0.5, -0.25, 1.0]]
    assert json.loads(last_upstream(gateway)["body"])["encoding_format"] == "base64"
    r = openai_client.embeddings.create(model="emb-a", input="x", encoding_format="float")
    assert r.data[0].embedding == [1.0, 0.5, -0.25, 0.0]
    sent = json.loads(last_upstream(gateway)["body"])
    assert sent["model"] == "scripted/emb-a"
    assert last_upstream(gateway)["path"] == "/v1/embeddings"


def test_models_list_with_tiers(openai_client):
    models = openai_client.models.list()
    assert [m.id for m in models] == ["chat-a", "chat-b", "emb-a", "slow-model", "down-model", "claude-pinned"]
    first = models.data[0]
    assert first.object == "model" and first.owned_by == "scripted" and isinstance(first.created, int)
    assert first.model_extra["tier"] == "sovereign"
    assert openai_client.models.retrieve("chat-b").model_extra["tier"] == "routed-commercial"


# --- errors ------------------------------------------------------------------------------------

def error_body(data):
    body = json.loads(data)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_unknown_key_is_authentication_error(gateway):
    client = openai.OpenAI(base_url=gateway.base + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"


def test_missing_key_is_401_in_openai_shape(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=b'{"model":"chat-a","messages":[]}',
                 headers={"content-type": "application/json"})
    r = conn.getresponse()
    assert r.status == 401
    assert error_body(r.read())["code"] == "invalid_api_key"


def test_unknown_model_is_not_found(gateway, openai_client):
    gateway.clear_upstream()
    with pytest.raises(openai.NotFoundError) as e:
        openai_client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    assert e.value.param == "model"
    assert gateway.upstream_requests() == []


def test_wrong_model_kind_is_bad_request(openai_client):
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="emb-a", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        openai_client.embeddings.create(model="chat-a", input="x")


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b'{"messages":[]}', "model"),
    (b'["chat-a"]', "JSON object"),
    (b"", "empty"),
])
def test_bad_bodies_are_400(gateway, body, needle):
    status, headers, data = raw_post(gateway, "/v1/chat/completions", body)
    assert status == 400
    err = error_body(data)
    assert err["type"] == "invalid_request_error"
    assert needle in err["message"]


def test_body_above_the_limit_is_413(gateway, openai_client):
    gateway.clear_upstream()
    with pytest.raises(openai.APIStatusError) as e:
        openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x" * 1_100_000}])
    assert e.value.status_code == 413
    assert e.value.code == "request_too_large"
    assert gateway.upstream_requests() == []


def test_bodies_above_64k_within_the_limit_are_forwarded_whole(gateway, openai_client):
    big = "y" * 300_000
    openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": big}])
    assert json.loads(last_upstream(gateway)["body"])["messages"][0]["content"] == big


def test_unreachable_upstream_is_502(openai_client):
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="down-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502
    assert e.value.code == "upstream_unavailable"
    assert e.value.response.headers["x-stav-sovereignty-tier"] == "sovereign"


def test_upstream_timeout_is_504(openai_client):
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="slow-model", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "sleep-2000"})
    assert e.value.status_code == 504
    assert e.value.code == "upstream_timeout"


@pytest.mark.parametrize("upstream_status", [401, 403])
def test_upstream_auth_failure_never_reaches_the_client(openai_client, upstream_status):
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": f"status-{upstream_status}"})
    assert e.value.status_code == 502
    assert UPSTREAM_KEY not in e.value.response.text
    assert e.value.response.headers["x-stav-sovereignty-tier"] == "sovereign"


def test_other_upstream_errors_pass_through_with_tier(openai_client):
    with pytest.raises(openai.RateLimitError) as e:
        openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "status-429"})
    assert e.value.response.headers["x-stav-sovereignty-tier"] == "sovereign"
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "status-500"})
    assert e.value.status_code == 500
    assert e.value.response.headers["x-stav-sovereignty-tier"] == "routed-commercial"


@pytest.mark.parametrize("script", ["no-done", "cut"])
def test_stream_that_ends_early_raises_instead_of_looking_complete(openai_client, script):
    stream = openai_client.chat.completions.create(
        model="chat-a", messages=[{"role": "user", "content": "x"}], stream=True,
        extra_headers={"x-script": script, "x-script-content": "a fairly long answer that gets cut"})
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_unknown_route_is_404_in_openai_shape(gateway):
    status, _, data = raw_post(gateway, "/v1/completions-nope", b"{}")
    assert status == 404
    assert error_body(data)["code"] == "unknown_url"


# --- metrics -----------------------------------------------------------------------------------

sample = metric


def test_metrics_show_the_requests_just_made(gateway, openai_client):
    before = gateway.metrics()
    openai_client.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}])
    list(openai_client.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}],
                                               stream=True))
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="no-such", messages=[{"role": "user", "content": "x"}])
    bad = openai.OpenAI(base_url=gateway.base + "/v1", api_key=make_key("unknownkey01", "W" * 32), max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    # A stream is counted once the upstream's body has ended, which can be just after the client
    # has read [DONE] and left.
    deadline = time.time() + 2
    while True:
        after = gateway.metrics()
        done = sample(after, "stav_http_requests_total", route="chat_completions", model="chat-b",
                      tier="routed-commercial", status_class="2xx")
        if done - sample(before, "stav_http_requests_total", route="chat_completions", model="chat-b",
                         tier="routed-commercial", status_class="2xx") >= 2 or time.time() > deadline:
            break
        time.sleep(0.02)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("stav_http_requests_total", route="chat_completions", model="chat-b",
                 tier="routed-commercial", status_class="2xx") == 2
    assert delta("stav_http_requests_total", route="chat_completions", model="unknown", status_class="4xx") == 1
    # Usage is counted for the streamed answer too (forced include_usage): 2 × 7 output tokens.
    assert delta("stav_tokens_total", model="chat-b", type="output") == 14
    assert delta("stav_tokens_total", model="chat-b", type="input") == 22
    assert delta("stav_auth_failures_total", reason="unknown") == 1
    assert delta("stav_time_to_first_byte_seconds_count", model="chat-b", streaming="true") == 1
    assert sample(after, "stav_active_streams", route="chat_completions") == 0
    # Labels stay bounded: the unknown model name and the bad key never appear.
    assert "no-such" not in after and "sk-bad" not in after


def chunked_post(gateway, body: bytes, chunk=16384):
    import socket
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    s.sendall(head)
    for i in range(0, len(body), chunk):
        part = body[i:i + chunk]
        s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    s.sendall(b"0\r\n\r\n")
    data = read_response(s)
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data[data.index(b"\r\n\r\n") + 4:]


def test_chunked_bodies_small_are_forwarded_large_get_411(gateway):
    small = json.dumps({"model": "chat-a", "messages": [{"role": "user", "content": "s" * 30_000}]}).encode()
    status, _ = chunked_post(gateway, small)
    assert status == 200
    assert json.loads(last_upstream(gateway)["body"])["messages"][0]["content"] == "s" * 30_000
    big = json.dumps({"model": "chat-a", "messages": [{"role": "user", "content": "b" * 100_000}]}).encode()
    gateway.clear_upstream()
    status, body = chunked_post(gateway, big)
    assert status == 411
    assert error_body(body)["code"] == "length_required"
    assert gateway.upstream_requests() == []


def test_expect_100_continue(gateway):
    body = json.dumps({"model": "chat-a", "messages": [{"role": "user", "content": "x" * 80_000}]}).encode()
    status, headers, data = raw_post(gateway, "/v1/chat/completions", body, {"expect": "100-continue"})
    assert status == 200, data
    up = last_upstream(gateway)
    assert "expect" not in up["headers"]
    assert len(up["body"]) == len(body.replace(b'"chat-a"', b'"scripted/chat-a"'))


def test_completed_streams_end_cleanly_and_reuse_the_upstream_connection(gateway, openai_client, anthropic_client):
    """Clients close their connection once they have read the stream's last event, before the
    upstream's body has ended: the rest is still read, so the upstream connection goes back to the
    pool and the request is logged without an error."""
    def connections(reused):
        return metric(gateway.metrics(), "stav_upstream_connections_total", provider="scripted", reused=reused)

    new_before, reused_before, log_from = connections("false"), connections("true"), len(gateway.log())
    msg = [{"role": "user", "content": "hi"}]
    for _ in range(3):
        list(openai_client.chat.completions.create(model="chat-a", messages=msg, stream=True))
        with anthropic_client.messages.stream(model="chat-a", max_tokens=20, messages=msg) as s:
            s.get_final_message()
        with openai_client.responses.stream(model="chat-a", input="hi") as s:
            s.get_final_response()
    deadline = time.time() + 2
    while connections("true") + connections("false") - reused_before - new_before < 9 and time.time() < deadline:
        time.sleep(0.05)
    # Back to back, the next stream can start while the last one's body is still being read: at
    # most two connections take turns. A connection dropped after each stream would make nine.
    assert connections("false") - new_before <= 2
    assert connections("true") - reused_before >= 7
    log = gateway.log()[log_from:].splitlines()
    entries = [json.loads(l) for l in log if l.startswith('{"time"')]
    assert len(entries) >= 9
    assert not [e for e in entries if "error" in e], entries
    assert not [l for l in log if "ERROR" in l or "Prematurely" in l]


def test_each_request_has_one_json_access_log_line(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="chat-a", messages=[{"role": "user", "content": "x"}])
    rid = raw.headers["x-request-id"]
    deadline = time.time() + 2
    entry = None
    while entry is None and time.time() < deadline:
        for line in gateway.log().splitlines():
            if line.startswith('{"time"') and f'"request_id":"{rid}"' in line:
                entry = json.loads(line)
        time.sleep(0.02)
    assert entry is not None, "the entry is written (off the request path, so shortly after)"
    assert entry["route"] == "chat_completions" and entry["method"] == "POST"
    assert entry["path"] == "/v1/chat/completions" and entry["status"] == 200
    assert (entry["key"], entry["team"], entry["model"], entry["tier"]) == ("itclient0001", "it", "chat-a", "sovereign")
    assert (entry["tokens_in"], entry["tokens_out"]) == (11, 7)
    assert entry["upstream_status"] == 200 and entry["duration_ms"] >= 0
    assert "x" not in (entry.get("error") or ""), "no content"

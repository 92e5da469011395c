"""The Anthropic contract end to end with the official `anthropic` SDK: translated models
(OpenAI-speaking upstream) and the verbatim Claude pass-through."""

import base64
import http.client
import json

import anthropic
import pytest

from conftest import CLIENT_KEY, UPSTREAM_KEY

WEATHER_TOOL = {"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def upstream(gateway):
    reqs = gateway.upstream_requests()
    assert reqs, "nothing reached the upstream"
    return reqs[-1]


def raw(gateway, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    h = {"content-type": "application/json", "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


# --- translated models -------------------------------------------------------------------------

def test_messages_create_translated(gateway, anthropic_client):
    raw_resp = anthropic_client.messages.with_raw_response.create(
        model="chat-a", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": "Hello?"}], extra_body={"temperature": 0.2},
        extra_headers={"x-script-content": "Hallo from Europe."})
    msg = raw_resp.parse()
    assert msg.content[0].type == "text" and msg.content[0].text == "Hallo from Europe."
    assert msg.model == "chat-a"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 11 and msg.usage.output_tokens == 7
    assert msg.id.startswith("msg_")
    assert raw_resp.headers["x-stav-sovereignty-tier"] == "sovereign"
    assert msg._request_id == raw_resp.headers["x-request-id"]
    sent = json.loads(upstream(gateway)["body"])
    assert upstream(gateway)["path"] == "/v1/chat/completions"
    assert sent["model"] == "scripted/chat-a"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.2
    hdrs = upstream(gateway)["headers"]
    assert hdrs["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-api-key" not in hdrs and not any(k.startswith("anthropic-") for k in hdrs)


def test_stream_get_final_message(gateway, anthropic_client):
    text = "Streaming, translated, chunk by chunk."
    with anthropic_client.messages.stream(model="chat-a", max_tokens=64,
                                          messages=[{"role": "user", "content": "go"}],
                                          extra_headers={"x-script-content": text}) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(deltas) == text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7
    assert json.loads(upstream(gateway)["body"])["stream_options"] == {"include_usage": True}


def test_tool_use_round_trip(gateway, anthropic_client):
    calls = [{"name": "get_weather", "arguments": '{"city": "Ghent"}'},
             {"name": "get_weather", "arguments": '{"city": "Graz"}'}]
    with anthropic_client.messages.stream(
            model="chat-a", max_tokens=100, tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": "Weather in Ghent and Graz?"}],
            extra_headers={"x-script-tools": json.dumps(calls)}) as stream:
        first = stream.get_final_message()
    uses = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use"
    assert [u.input for u in uses] == [{"city": "Ghent"}, {"city": "Graz"}]
    assert [u.id for u in uses] == ["call_0", "call_1"]

    second = anthropic_client.messages.create(
        model="chat-a", max_tokens=100, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Ghent and Graz?"},
                  {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": uses[0].id, "content": "12C"},
                      {"type": "tool_result", "tool_use_id": uses[1].id, "content": "9C"}]}],
        extra_headers={"x-script-content": "Ghent 12C, Graz 9C."})
    assert second.content[0].text == "Ghent 12C, Graz 9C."
    sent = json.loads(upstream(gateway)["body"])
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in sent["messages"][1]["tool_calls"]] == ["call_0", "call_1"]
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_0", "content": "12C"}
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]


def test_non_streaming_tool_use(anthropic_client):
    msg = anthropic_client.messages.create(
        model="chat-a", max_tokens=100, tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather?"}],
        extra_headers={"x-script-tools": json.dumps([{"name": "get_weather", "arguments": '{"city":"Oulu"}'}])})
    assert msg.stop_reason == "tool_use"
    assert msg.content[0].type == "tool_use" and msg.content[0].input == {"city": "Oulu"}


def test_images(gateway, anthropic_client):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n0000").decode()
    anthropic_client.messages.create(model="chat-a", max_tokens=10, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.eu/a.jpg"}},
        {"type": "text", "text": "Describe."}]}])
    parts = json.loads(upstream(gateway)["body"])["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}
    assert parts[1]["image_url"]["url"] == "https://example.eu/a.jpg"
    assert parts[2] == {"type": "text", "text": "Describe."}


def test_count_tokens_for_translated_models_never_leaves_the_gateway(gateway, anthropic_client):
    gateway.clear_upstream()
    short = anthropic_client.messages.count_tokens(model="chat-a", messages=[{"role": "user", "content": "hi"}])
    long = anthropic_client.messages.count_tokens(model="chat-a", messages=[{"role": "user", "content": "hi " * 500}])
    assert 0 < short.input_tokens < long.input_tokens
    assert gateway.upstream_requests() == []


def test_models_list_pager_ends(anthropic_client):
    ids = [m.id for m in anthropic_client.models.list()]
    assert ids == ["chat-a", "chat-b", "emb-a", "slow-model", "down-model", "claude-pinned"]
    page = anthropic_client.models.list()
    assert page.has_more is False and page.first_id == "chat-a"


def test_dropped_fields_are_named(anthropic_client):
    r = anthropic_client.messages.with_raw_response.create(
        model="chat-a", max_tokens=10, messages=[{"role": "user", "content": "x"}], extra_body={"top_k": 3})
    assert r.headers["x-stav-dropped-fields"] == "top_k"


# --- errors in Anthropic's shape ---------------------------------------------------------------

def assert_anthropic_error(e, status, type_):
    assert e.status_code == status
    assert e.body["type"] == "error"
    assert e.body["error"]["type"] == type_
    assert e.request_id and e.request_id.startswith("req_")


def test_error_classes(gateway, anthropic_client):
    bad = anthropic.Anthropic(base_url=gateway.base, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model="chat-a", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert_anthropic_error(e.value, 401, "authentication_error")

    with pytest.raises(anthropic.NotFoundError) as e:
        anthropic_client.messages.create(model="gpt-99", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert_anthropic_error(e.value, 404, "not_found_error")

    with pytest.raises(anthropic.BadRequestError) as e:
        anthropic_client.messages.create(model="chat-a", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                                         tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert_anthropic_error(e.value, 400, "invalid_request_error")

    with pytest.raises(anthropic.APIStatusError) as e:
        anthropic_client.messages.create(model="chat-a", max_tokens=5,
                                         messages=[{"role": "user", "content": "x" * 1_100_000}])
    assert_anthropic_error(e.value, 413, "request_too_large")


@pytest.mark.parametrize("upstream_status, cls, status, type_", [
    (400, anthropic.BadRequestError, 400, "invalid_request_error"),
    (401, anthropic.InternalServerError, 502, "api_error"),
    (429, anthropic.RateLimitError, 429, "rate_limit_error"),
    (500, anthropic.InternalServerError, 500, "api_error"),
    (503, anthropic.OverloadedError, 529, "overloaded_error"),
])
def test_upstream_errors_map_to_anthropic_classes(anthropic_client, upstream_status, cls, status, type_):
    with pytest.raises(cls) as e:
        anthropic_client.messages.create(model="chat-a", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                                         extra_headers={"x-script": f"status-{upstream_status}"})
    assert_anthropic_error(e.value, status, type_)
    assert UPSTREAM_KEY not in json.dumps(e.value.body) or upstream_status not in (401, 403)


def test_unreachable_and_timeout(anthropic_client):
    with pytest.raises(anthropic.InternalServerError) as e:
        anthropic_client.messages.create(model="down-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert_anthropic_error(e.value, 502, "api_error")
    with pytest.raises(anthropic.APIStatusError) as e:
        anthropic_client.messages.create(model="slow-model", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                                         extra_headers={"x-script": "sleep-2000"})
    assert_anthropic_error(e.value, 504, "timeout_error")


def test_stream_cut_raises_not_end_turn(anthropic_client):
    with pytest.raises(anthropic.APIStatusError) as e:
        with anthropic_client.messages.stream(model="chat-a", max_tokens=50, messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "cut",
                                                             "x-script-content": "long enough to be cut off"}) as s:
            s.get_final_message()
    assert e.value.body["error"]["type"] == "api_error"


def test_stream_that_finished_but_lacks_done_completes(anthropic_client):
    # finish_reason and usage arrived; only the [DONE] trailer is missing: the answer is whole.
    with anthropic_client.messages.stream(model="chat-a", max_tokens=50, messages=[{"role": "user", "content": "x"}],
                                          extra_headers={"x-script": "no-done", "x-script-content": "whole"}) as s:
        final = s.get_final_message()
    assert final.content[0].text == "whole" and final.stop_reason == "end_turn"


# --- Claude: verbatim pass-through -------------------------------------------------------------

CLAUDE_BODY = ('{"model": "claude-sonnet-4-5",  "max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},'
               '"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral","ttl":"1h"}}],'
               '"messages":[{"role":"user","content":[{"type":"text","text":"h\\u00e9llo","cache_control":{"type":"ephemeral"}}]},'
               '{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"EqQBCgIYAh"},{"type":"text","text":"yo"}]},'
               '{"role":"user","content":"again"}],"future_field":{"x":[1.50,2e3]}}').encode()


def test_claude_body_and_headers_pass_verbatim(gateway):
    status, headers, data = raw(gateway, "POST", "/v1/messages?beta=true", CLAUDE_BODY, {
        "anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        "anthropic-version": "2023-06-01", "authorization": f"Bearer {CLIENT_KEY}"})
    assert status == 200, data
    up = upstream(gateway)
    assert up["body"].encode() == CLAUDE_BODY
    assert up["path"] == "/v1/messages?beta=true"
    assert up["headers"]["x-api-key"] == UPSTREAM_KEY
    assert "authorization" not in up["headers"]
    assert CLIENT_KEY not in json.dumps(up["headers"])
    assert up["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    assert up["headers"]["anthropic-version"] == "2023-06-01"
    assert headers["request-id"] == "req_upstream_anthropic_1"
    assert headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert headers["x-stav-sovereignty-tier"] == "global-commercial"
    assert headers["x-request-id"].startswith("req_")
    assert json.loads(data)["id"] == "msg_upstream_1"


def test_claude_stream_bytes_come_back_unchanged(gateway):
    body = CLAUDE_BODY.replace(b'"max_tokens":1024', b'"max_tokens":1024,"stream":true')
    status, headers, data = raw(gateway, "POST", "/v1/messages", body)
    assert status == 200
    assert upstream(gateway)["body"].encode() == body
    assert data.startswith(b"event: message_start\ndata: ")
    assert data.endswith(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert b"[DONE]" not in data


def test_claude_through_the_sdk_with_pinned_model_splice(gateway, anthropic_client):
    r = anthropic_client.messages.with_raw_response.create(
        model="claude-pinned", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    msg = r.parse()
    assert msg.content[0].text == "Claude says hi."
    assert msg._request_id == "req_upstream_anthropic_1"
    up = upstream(gateway)
    sent = json.loads(up["body"])
    assert sent["model"] == "claude-sonnet-4-5-20250929"
    assert up["headers"]["anthropic-beta"] == "context-1m-2025-08-07"
    with anthropic_client.messages.stream(model="claude-opus-4-1", max_tokens=100,
                                          messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert final.content[0].text == "Claude says hi."
    assert final.usage.output_tokens == 9


def test_claude_count_tokens_passes_through(gateway, anthropic_client):
    r = anthropic_client.messages.count_tokens(model="claude-opus-4-1", messages=[{"role": "user", "content": "hi"}])
    assert r.input_tokens == 4242
    assert upstream(gateway)["path"] == "/v1/messages/count_tokens"


def test_claude_stream_cut_ends_with_error_event(anthropic_client):
    with pytest.raises(anthropic.APIStatusError):
        with anthropic_client.messages.stream(model="claude-opus-4-1", max_tokens=50,
                                              messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "anthropic-cut"}) as s:
            s.get_final_message()


def test_claude_upstream_401_is_not_the_clients_fault(anthropic_client):
    with pytest.raises(anthropic.InternalServerError) as e:
        anthropic_client.messages.create(model="claude-opus-4-1", max_tokens=5,
                                         messages=[{"role": "user", "content": "x"}],
                                         extra_headers={"x-script": "status-401"})
    assert_anthropic_error(e.value, 502, "api_error")
    assert UPSTREAM_KEY not in json.dumps(e.value.body)


def test_metrics_count_claude_and_translated_tokens(gateway, anthropic_client):
    from test_openai_contract import sample
    before = gateway.metrics()
    anthropic_client.messages.create(model="claude-opus-4-1", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with anthropic_client.messages.stream(model="chat-a", max_tokens=5, messages=[{"role": "user", "content": "x"}]) as s:
        s.get_final_message()
    after = gateway.metrics()
    d = lambda **l: sample(after, "stav_tokens_total", **l) - sample(before, "stav_tokens_total", **l)
    assert d(route="messages", model="claude-*", type="input") == 42
    assert d(route="messages", model="claude-*", type="output") == 9
    assert d(route="messages", model="chat-a", type="output") == 7

"""OpenAI SDK users calling Claude models: Chat Completions translated to Anthropic Messages and back."""

import json

import openai
import pytest

from conftest import UPSTREAM_KEY

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def upstream(gateway):
    return gateway.upstream_requests()[-1]


def test_create(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="claude-opus-4-1", max_tokens=50, temperature=1.5,
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}])
    c = raw.parse()
    assert c.choices[0].message.content == "Claude says hi."
    assert c.choices[0].finish_reason == "stop"
    assert c.model == "claude-opus-4-1"
    assert c.usage.prompt_tokens == 42 and c.usage.completion_tokens == 9
    assert c.usage.prompt_tokens_details.cached_tokens == 12
    assert raw.headers["x-stav-sovereignty-tier"] == "global-commercial"
    up = upstream(gateway)
    assert up["path"] == "/v1/messages"
    assert up["headers"]["x-api-key"] == UPSTREAM_KEY and "authorization" not in up["headers"]
    assert up["headers"]["anthropic-version"] == "2023-06-01"
    sent = json.loads(up["body"])
    assert sent == {"model": "claude-opus-4-1", "max_tokens": 50, "system": "Be terse.",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "temperature": 1.0}


def test_stream_with_usage(openai_client):
    chunks = list(openai_client.chat.completions.create(
        model="claude-opus-4-1", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Claude says hi."
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9
    assert [c.choices[0].finish_reason for c in chunks if c.choices].count("stop") == 1


def test_tool_calls_both_ways(gateway, openai_client):
    calls = [{"name": "get_weather", "arguments": '{"city": "Turku"}'}]
    with openai_client.chat.completions.stream(
            model="claude-opus-4-1", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS,
            extra_headers={"x-script-tools": json.dumps(calls)}) as s:
        final = s.get_final_completion()
    tc = final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert tc.id == "toolu_0" and json.loads(tc.function.arguments) == {"city": "Turku"}
    openai_client.chat.completions.create(
        model="claude-opus-4-1", tools=TOOLS, messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [tc.model_dump()]},
            {"role": "tool", "tool_call_id": tc.id, "content": "3C"}])
    sent = json.loads(upstream(gateway)["body"])
    assert sent["messages"][1]["content"] == [{"type": "tool_use", "id": "toolu_0", "name": "get_weather",
                                              "input": {"city": "Turku"}}]
    assert sent["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "3C"}]
    assert sent["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]


def test_non_streaming_tool_call(openai_client):
    c = openai_client.chat.completions.create(
        model="claude-opus-4-1", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS,
        extra_headers={"x-script-tools": json.dumps([{"name": "get_weather", "arguments": '{"city":"Riga"}'}])})
    assert c.choices[0].finish_reason == "tool_calls"
    assert json.loads(c.choices[0].message.tool_calls[0].function.arguments) == {"city": "Riga"}


def test_upstream_errors_in_openai_shape(openai_client):
    with pytest.raises(openai.RateLimitError) as e:
        openai_client.chat.completions.create(model="claude-opus-4-1", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "status-429"})
    assert set(e.value.body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="claude-opus-4-1", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-script": "status-403"})
    assert e.value.status_code == 502 and UPSTREAM_KEY not in e.value.response.text


def test_cut_stream_raises(openai_client):
    with pytest.raises(openai.APIError):
        for _ in openai_client.chat.completions.create(model="claude-opus-4-1", stream=True,
                                                       messages=[{"role": "user", "content": "x"}],
                                                       extra_headers={"x-script": "anthropic-cut"}):
            pass


def test_dropped_fields_and_n(openai_client):
    r = openai_client.chat.completions.with_raw_response.create(
        model="claude-opus-4-1", messages=[{"role": "user", "content": "x"}], seed=1, logprobs=True)
    assert set(r.headers["x-stav-dropped-fields"].split(",")) == {"seed", "logprobs"}
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="claude-opus-4-1", n=2, messages=[{"role": "user", "content": "x"}])

"""The OpenAI Responses API through openai-python, on a translated model (OpenAI-compatible
upstream) and on Claude (Anthropic upstream): create, stream, parse, tool loops, stored responses
and their continuation, and the policy that applies to them."""

import json

import openai
import pytest
from pydantic import BaseModel

from conftest import CLIENT_KEY, NO_ROUTER_KEY, SOVEREIGN_KEY, UPSTREAM_KEY, metric

# chat-a: sovereign, OpenAI-compatible upstream; claude-opus-4-1: global-commercial, Anthropic.
MODELS = ["chat-a", "claude-opus-4-1"]
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city", "strict": True,
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"], "additionalProperties": False}}]


def last_upstream(gateway):
    return gateway.upstream_requests()[-1]


def sent(gateway):
    return json.loads(last_upstream(gateway)["body"])


def client(gateway, key=CLIENT_KEY):
    return openai.OpenAI(base_url=gateway.base + "/v1", api_key=key, max_retries=0, timeout=10)


@pytest.mark.parametrize("model", MODELS)
def test_create(gateway, openai_client, model):
    raw = openai_client.responses.with_raw_response.create(
        model=model, input="Say hi", instructions="Be terse.", max_output_tokens=64, temperature=0.5)
    r = raw.parse()
    assert r.object == "response" and r.id.startswith("resp_") and r.status == "completed"
    assert r.model == model
    assert r.output_text in ("Hello from the scripted upstream.", "Claude says hi.")
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert raw.headers["x-request-id"].startswith("req_")
    up = last_upstream(gateway)
    body = json.loads(up["body"])
    assert "authorization" not in up["headers"] or up["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in json.dumps(up["headers"])
    if model == "chat-a":
        assert raw.headers["x-stav-sovereignty-tier"] == "sovereign"
        assert up["path"] == "/v1/chat/completions"
        assert body["model"] == "scripted/chat-a"
        assert body["messages"] == [{"role": "system", "content": "Be terse."},
                                    {"role": "user", "content": "Say hi"}]
        assert body["max_tokens"] == 64 and body["temperature"] == 0.5
        assert r.usage.input_tokens == 11 and r.usage.output_tokens == 7
    else:
        assert raw.headers["x-stav-sovereignty-tier"] == "global-commercial"
        assert up["path"] == "/v1/messages"
        assert up["headers"]["x-api-key"] == UPSTREAM_KEY
        assert body == {"model": "claude-opus-4-1", "max_tokens": 64, "system": "Be terse.",
                        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}],
                        "temperature": 0.5}
        # Anthropic's input_tokens exclude cache reads: the Responses API's include them.
        assert r.usage.input_tokens == 42 and r.usage.input_tokens_details.cached_tokens == 12


@pytest.mark.parametrize("model", MODELS)
def test_stream_events_and_final_response(openai_client, model):
    seen = []
    with openai_client.responses.stream(model=model, input="Say hi") as stream:
        for event in stream:
            seen.append(event)
        final = stream.get_final_response()
    types = [e.type for e in seen]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for needed in ["response.output_item.added", "response.content_part.added", "response.output_text.delta",
                   "response.output_text.done", "response.content_part.done", "response.output_item.done"]:
        assert needed in types, needed
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    deltas = "".join(e.delta for e in seen if e.type == "response.output_text.delta")
    assert deltas == final.output_text and final.output_text
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_parse_with_a_pydantic_model(gateway, openai_client, model):
    class City(BaseModel):
        name: str
        population: int

    answer = '{"name": "Turku", "population": 200000}'
    r = openai_client.responses.parse(model=model, input="A Finnish city", text_format=City,
                                      extra_headers={"x-script-content": answer})
    assert r.output_parsed == City(name="Turku", population=200000)
    body = sent(gateway)
    if model == "chat-a":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City"
        assert fmt["json_schema"]["schema"]["properties"]["population"]["type"] == "integer"
    else:
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert "population" in body["output_config"]["format"]["schema"]["properties"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_function_call_output(gateway, openai_client, model, stream):
    calls = [{"name": "get_weather", "arguments": '{"city": "Oslo"}'},
             {"name": "get_weather", "arguments": '{"city": "Bergen"}'}]
    headers = {"x-script-tools": json.dumps(calls)}
    if stream:
        with openai_client.responses.stream(model=model, input="Weather?", tools=TOOLS,
                                            extra_headers=headers) as s:
            first = s.get_final_response()
    else:
        first = openai_client.responses.create(model=model, input="Weather?", tools=TOOLS, extra_headers=headers)
    fcs = [o for o in first.output if o.type == "function_call"]
    assert [(f.name, json.loads(f.arguments)) for f in fcs] == [("get_weather", {"city": "Oslo"}),
                                                               ("get_weather", {"city": "Bergen"})]
    assert all(f.call_id for f in fcs) and fcs[0].call_id != fcs[1].call_id
    tools_sent = sent(gateway)["tools"]
    assert (tools_sent[0]["function"]["name"] if model == "chat-a" else tools_sent[0]["name"]) == "get_weather"
    # The client runs the tools and sends the results with the whole conversation.
    history = [{"role": "user", "content": "Weather?"}] + [f.model_dump(exclude_none=True) for f in fcs]
    history += [{"type": "function_call_output", "call_id": f.call_id, "output": f"{i}C"} for i, f in enumerate(fcs)]
    second = openai_client.responses.create(model=model, input=history, tools=TOOLS)
    assert second.output_text
    body = sent(gateway)
    if model == "chat-a":
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "tool"]
        assert [t["id"] for t in body["messages"][1]["tool_calls"]] == [f.call_id for f in fcs]
        assert body["messages"][2] == {"role": "tool", "tool_call_id": fcs[0].call_id, "content": "0C"}
    else:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        uses = [b for b in body["messages"][1]["content"] if b["type"] == "tool_use"]
        results = body["messages"][2]["content"]
        assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results]
        assert uses[0]["input"] == {"city": "Oslo"}


@pytest.mark.parametrize("model", MODELS)
def test_stored_responses_retrieve_continue_list_delete(gateway, openai_client, model):
    first = openai_client.responses.create(model=model, input="Remember the number 7.",
                                           extra_headers={"x-script-content": "Noted: 7."})
    got = openai_client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == "Noted: 7."
    items = openai_client.responses.input_items.list(first.id)
    assert [i.type for i in items.data] == ["message"] and items.data[0].content[0].text == "Remember the number 7."
    second = openai_client.responses.create(model=model, input="Which number?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    body = sent(gateway)
    turns = body["messages"]
    texts = [json.dumps(m) for m in turns]
    assert "Remember the number 7." in texts[0] and "Noted: 7." in texts[1] and "Which number?" in texts[-1]
    # A chain of three keeps the whole conversation.
    third = openai_client.responses.create(model=model, input="And again?", previous_response_id=second.id)
    assert len(sent(gateway)["messages"]) >= 5
    openai_client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError) as e:
        openai_client.responses.create(model=model, input="x", previous_response_id=first.id)
    assert e.value.body["code"] == "response_not_found" and e.value.body["param"] == "previous_response_id"
    assert openai_client.responses.retrieve(third.id).id == third.id


def test_store_false_keeps_nothing(openai_client):
    r = openai_client.responses.create(model="chat-a", input="x", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(r.id)


def test_a_stored_response_belongs_to_its_team(gateway, openai_client):
    r = openai_client.responses.create(model="chat-a", input="team secret")
    other = client(gateway, NO_ROUTER_KEY)  # team "other"
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="chat-a", input="x", previous_response_id=r.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(r.id)
    assert openai_client.responses.retrieve(r.id).id == r.id


def test_a_conversation_that_started_sovereign_never_leaves_it(gateway, openai_client):
    # Served under a sovereign cap (the key's): Claude is refused for its continuation, whatever key.
    sovereign = client(gateway, SOVEREIGN_KEY)
    r = sovereign.responses.create(model="chat-a", input="internal plans")
    n = len(gateway.upstream_requests())
    with pytest.raises(openai.PermissionDeniedError) as e:
        openai_client.responses.create(model="claude-opus-4-1", input="go on", previous_response_id=r.id)
    assert e.value.body["code"] == "sovereignty_policy_violation"
    assert "continued conversation" in e.value.body["message"]
    assert len(gateway.upstream_requests()) == n, "nothing was sent upstream"
    # Sensitive data in an earlier turn is scanned again when the conversation is continued.
    r = openai_client.responses.create(model="chat-a", input="My IBAN is DE89 3704 0044 0532 0130 00")
    with pytest.raises(openai.PermissionDeniedError) as e:
        openai_client.responses.create(model="claude-opus-4-1", input="thanks", previous_response_id=r.id)
    assert "iban" in e.value.body["message"]
    assert len(gateway.upstream_requests()) == n + 1


def test_auto_carries_routing_metadata_on_the_object_and_response_created(openai_client):
    raw = openai_client.responses.with_raw_response.create(model="auto", input="Hello there, how are you?")
    r = raw.parse()
    assert raw.headers["x-stav-selected-model"] == "chat-b"
    assert r.model_extra["routing_metadata"]["selected_model"] == "chat-b"
    with openai_client.responses.stream(model="auto", input="Hello there") as s:
        created = next(iter(s))
        assert created.type == "response.created"
        assert created.response.model_extra["routing_metadata"]["selected_model"] == "chat-b"
        s.until_done()


def test_built_in_tools_are_dropped_and_named_unless_forced(gateway, openai_client):
    raw = openai_client.responses.with_raw_response.create(
        model="chat-a", input="x", tools=[{"type": "web_search"}, *TOOLS])
    assert "tools.web_search" in raw.headers["x-stav-dropped-fields"]
    assert [t["function"]["name"] for t in sent(gateway)["tools"]] == ["get_weather"]
    n = len(gateway.upstream_requests())
    with pytest.raises(openai.BadRequestError) as e:
        openai_client.responses.create(model="chat-a", input="x", tools=[{"type": "web_search"}],
                                       tool_choice={"type": "web_search"})
    assert "web_search" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        openai_client.responses.create(model="chat-a", input="x", background=True)
    assert e.value.body["param"] == "background"
    assert len(gateway.upstream_requests()) == n


def test_claude_thinking_continues_through_encrypted_reasoning(gateway, openai_client):
    """Codex's way: store=false, include encrypted reasoning, send the items back with the tool
    output. Claude accepts earlier thinking only as it wrote it, signature included."""
    headers = {"x-script-thinking": "I should look it up.",
               "x-script-tools": json.dumps([{"name": "get_weather", "arguments": '{"city": "Oslo"}'}])}
    first = openai_client.responses.create(
        model="claude-opus-4-1", input="Weather?", tools=TOOLS, store=False, reasoning={"effort": "medium"},
        include=["reasoning.encrypted_content"], extra_headers=headers)
    reasoning = [o for o in first.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content and reasoning[0].content[0].text == "I should look it up."
    assert sent(gateway)["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    call = next(o for o in first.output if o.type == "function_call")
    # The client drops the readable text, as Codex does; the sealed content is enough.
    back = [{"role": "user", "content": "Weather?"},
            {"type": "reasoning", "id": reasoning[0].id, "summary": [], "encrypted_content": reasoning[0].encrypted_content},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "3C"}]
    second = openai_client.responses.create(model="claude-opus-4-1", input=back, tools=TOOLS, store=False,
                                            reasoning={"effort": "medium"}, include=["reasoning.encrypted_content"])
    assert second.output_text == "Claude says hi."
    assistant = sent(gateway)["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "I should look it up.",
                            "signature": "sig:I should look it up."}
    assert assistant[1]["type"] == "tool_use"


def test_reasoning_of_a_translated_model_is_a_reasoning_item(openai_client):
    r = openai_client.responses.create(model="chat-a", input="x", extra_headers={"x-script-thinking": "Hmm."})
    assert r.output[0].type == "reasoning" and r.output[0].content[0].text == "Hmm."
    assert r.output[1].type == "message"


def test_errors_are_in_openai_shape(gateway, openai_client):
    with pytest.raises(openai.NotFoundError) as e:
        openai_client.responses.create(model="no-such-model", input="x")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "hm_live_wrongwrong01_" + "x" * 38).responses.create(model="chat-a", input="x")
    with pytest.raises(openai.BadRequestError) as e:
        openai_client.responses.create(model="emb-a", input="x")
    assert e.value.body["code"] == "model_not_supported"
    with pytest.raises(openai.InternalServerError):
        openai_client.responses.create(model="claude-opus-4-1", input="x", extra_headers={"x-script": "status-500"})


@pytest.mark.parametrize("model,script", [("chat-a", "cut"), ("claude-opus-4-1", "anthropic-cut")])
def test_a_stream_broken_upstream_ends_with_response_failed(openai_client, model, script):
    with openai_client.responses.stream(model=model, input="x", extra_headers={"x-script": script}) as s:
        events = [e for e in s]
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed" and events[-1].response.error.message
    assert [e.type for e in events].count("response.completed") == 0


def test_metrics_count_the_responses_route(gateway, openai_client):
    before = metric(gateway.metrics(), "stav_http_requests_total", route="responses", model="chat-a",
                    status_class="2xx")
    openai_client.responses.create(model="chat-a", input="x")
    after = metric(gateway.metrics(), "stav_http_requests_total", route="responses", model="chat-a",
                   status_class="2xx")
    assert after == before + 1


def test_a_gateway_that_keeps_nothing_says_so(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from conftest import Process, free_port, small_config
    from stavkeys import record

    upstream_port, port, admin = free_port(), free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"),
                                 str(upstream_port)], stdout=subprocess.DEVNULL)
    (tmp_path / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    store = '[store]\nkind = "file"\npath = "keys.toml"'
    cfg = tmp_path / "stav.toml"
    cfg.write_text(small_config(port, admin, upstream_port, store, teams="[responses]\nstore = false\n"))
    node = Process(cfg, port, admin, upstream_port)
    try:
        c = openai.OpenAI(base_url=node.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
        r = c.responses.create(model="chat-a", input="x")
        assert r.store is False
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(r.id)
        with pytest.raises(openai.BadRequestError) as e:
            c.responses.create(model="chat-a", input="y", previous_response_id=r.id)
        assert "keeps no responses" in e.value.message
    finally:
        node.stop()
        upstream.terminate()
        upstream.wait(10)

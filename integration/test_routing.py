"""Smart Router and sovereignty policy through both SDKs: `model: "auto"`, routing_metadata,
the tier cap from team, key, header and sensitive data, and the 403 that sends nothing upstream."""

import json

import anthropic
import openai
import pytest

from conftest import CLIENT_KEY, NO_ROUTER_KEY, SOVEREIGN_KEY

CODE_PROMPT = "Write a Python function that reverses a linked list, with unit tests."
POEM_PROMPT = "Write a short poem about the Baltic sea at dawn."
IBAN_POEM = "Write a short poem for my landlord; my IBAN for the deposit refund is DE89 3704 0044 0532 0130 00."


def last_upstream(gateway):
    reqs = gateway.upstream_requests()
    return reqs[-1] if reqs else None


def assert_length_framed(raw):
    """A whole answer held back for routing_metadata keeps an exact Content-Length (one write,
    no chunked framing) when the upstream announced one."""
    body = raw.http_response.content
    assert raw.headers.get("transfer-encoding") is None
    assert int(raw.headers["content-length"]) == len(body)
    assert json.loads(body)["routing_metadata"]


def test_auto_openai_non_streaming(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": CODE_PROMPT}])
    c = raw.parse()
    meta = c.model_extra["routing_metadata"]
    assert meta["selected_model"] == "chat-a"
    assert meta["signals"]["code"] is True and meta["signals"]["sensitive"] is False
    assert meta["rule"] == 1 and meta["max_tier"] == "global-commercial"
    assert "→ chat-a" in meta["reason"]
    assert raw.headers["x-stav-selected-model"] == "chat-a"
    assert raw.headers["x-stav-routing-reason"].endswith("-> chat-a")
    assert raw.headers["x-stav-sovereignty-tier"] == "sovereign"
    assert raw.headers["x-stav-max-tier"] == "global-commercial"
    assert json.loads(last_upstream(gateway)["body"])["model"] == "scripted/chat-a"
    assert_length_framed(raw)


def test_auto_openai_streaming_first_chunk(openai_client):
    chunks = list(openai_client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": CODE_PROMPT}], stream=True))
    assert chunks[0].model_extra["routing_metadata"]["selected_model"] == "chat-a"
    assert all("routing_metadata" not in (c.model_extra or {}) for c in chunks[1:])
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the scripted upstream."


def test_auto_anthropic_non_streaming_and_streaming(anthropic_client):
    msg = anthropic_client.messages.create(model="auto", max_tokens=50,
                                           messages=[{"role": "user", "content": CODE_PROMPT}])
    assert msg.model_extra["routing_metadata"]["selected_model"] == "chat-a"
    assert msg.model == "chat-a"
    with anthropic_client.messages.stream(model="auto", max_tokens=50,
                                          messages=[{"role": "user", "content": CODE_PROMPT}]) as s:
        final = s.get_final_message()
    assert final.model_extra["routing_metadata"]["selected_model"] == "chat-a"


def test_auto_can_choose_claude_and_keeps_metadata_on_the_verbatim_path(gateway, anthropic_client, openai_client):
    r = anthropic_client.messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": POEM_PROMPT}])
    msg = r.parse()
    assert r.headers["x-stav-sovereignty-tier"] == "global-commercial"
    assert msg.model_extra["routing_metadata"]["selected_model"] == "claude-opus-4-1"
    assert json.loads(last_upstream(gateway)["body"])["model"] == "claude-opus-4-1"
    assert_length_framed(r)
    with anthropic_client.messages.stream(model="auto", max_tokens=50,
                                          messages=[{"role": "user", "content": POEM_PROMPT}]) as s:
        final = s.get_final_message()
    assert final.model_extra["routing_metadata"]["signals"]["domain"] == "creative"
    assert final.content[0].text == "Claude says hi."
    # And OpenAI SDK users reaching Claude through auto get it on the first chunk.
    chunks = list(openai_client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": POEM_PROMPT}], stream=True))
    assert chunks[0].model_extra["routing_metadata"]["selected_model"] == "claude-opus-4-1"


def test_sensitive_prompt_is_kept_sovereign_by_auto(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": IBAN_POEM}])
    meta = raw.parse().model_extra["routing_metadata"]
    assert meta["signals"]["sensitive"] is True and meta["signals"]["entities"] == ["iban"]
    assert meta["max_tier"] == "sovereign"
    assert meta["selected_model"] == "chat-a" and meta["rule"] == 0
    assert raw.headers["x-stav-sovereignty-tier"] == "sovereign"
    assert raw.headers["x-stav-max-tier"] == "sovereign"


def test_explicit_model_above_a_sensitive_cap_is_403_and_nothing_is_sent(gateway, openai_client, anthropic_client):
    gateway.clear_upstream()
    with pytest.raises(openai.PermissionDeniedError) as e:
        openai_client.chat.completions.create(model="claude-opus-4-1",
                                              messages=[{"role": "user", "content": IBAN_POEM}])
    assert e.value.code == "sovereignty_policy_violation"
    assert e.value.type == "sovereignty_policy_violation"
    assert "sovereign" in e.value.message and "iban" in e.value.message
    assert "DE89" not in e.value.response.text
    assert e.value.response.headers["x-stav-max-tier"] == "sovereign"
    assert e.value.response.headers["x-stav-sovereignty-tier"] == "none"
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        anthropic_client.messages.create(model="claude-opus-4-1", max_tokens=10,
                                         messages=[{"role": "user", "content": IBAN_POEM}])
    assert e.value.body["error"]["type"] == "sovereignty_policy_violation"
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic_client.messages.count_tokens(model="claude-opus-4-1",
                                               messages=[{"role": "user", "content": IBAN_POEM}])
    # The sensitive text may sit anywhere that would be forwarded, e.g. in the system prompt.
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic_client.messages.create(model="claude-opus-4-1", max_tokens=10, system=IBAN_POEM,
                                         messages=[{"role": "user", "content": "hi"}])
    assert gateway.upstream_requests() == []


def test_header_and_key_caps_only_lower(gateway, openai_client):
    gateway.clear_upstream()
    with pytest.raises(openai.PermissionDeniedError) as e:
        openai_client.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-stav-max-tier": "sovereign"})
    assert "X-Stav-Max-Tier" in e.value.message
    capped = openai.OpenAI(base_url=gateway.base + "/v1", api_key=SOVEREIGN_KEY, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as e:
        capped.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}])
    assert "API key policy" in e.value.message
    # A header cannot raise a key's cap.
    with pytest.raises(openai.PermissionDeniedError):
        capped.chat.completions.create(model="chat-b", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-stav-max-tier": "global-commercial"})
    assert gateway.upstream_requests() == []
    r = capped.chat.completions.with_raw_response.create(model="chat-a", messages=[{"role": "user", "content": "x"}])
    assert r.headers["x-stav-max-tier"] == "sovereign"
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}],
                                              extra_headers={"x-stav-max-tier": "eu-only"})


def test_auto_with_nothing_under_the_cap_is_503(gateway, openai_client):
    gateway.clear_upstream()
    # Header cap sovereign: the poem's claude rule and the chat-b default are both above it.
    with pytest.raises(openai.InternalServerError) as e:
        openai_client.chat.completions.create(model="auto", messages=[{"role": "user", "content": POEM_PROMPT}],
                                              extra_headers={"x-stav-max-tier": "sovereign"})
    assert e.value.status_code == 503 and e.value.code == "no_eligible_model"
    no_router = openai.OpenAI(base_url=gateway.base + "/v1", api_key=NO_ROUTER_KEY, max_retries=0)
    with pytest.raises(openai.InternalServerError):
        no_router.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert gateway.upstream_requests() == []


def test_every_answer_carries_both_tier_headers(openai_client, anthropic_client):
    r = openai_client.embeddings.with_raw_response.create(model="emb-a", input="x")
    assert r.headers["x-stav-sovereignty-tier"] == "sovereign" and r.headers["x-stav-max-tier"] == "global-commercial"
    r = anthropic_client.messages.with_raw_response.count_tokens(model="chat-a", messages=[{"role": "user", "content": "x"}])
    assert r.headers["x-stav-sovereignty-tier"] == "sovereign" and r.headers["x-stav-max-tier"] == "global-commercial"

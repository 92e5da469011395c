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


# ---- Issue 14: sensitive data stays sovereign, whatever shape the request takes ----------------

import base64
import urllib.error
import urllib.request

from conftest import CLIENT_KEY as _KEY

IBAN = "DE89 3704 0044 0532 0130 00"
B64_IBAN = base64.b64encode(f"Kontoauszug: IBAN {IBAN}".encode()).decode()


class _Answer:
    def __init__(self, status_code, text):
        self.status_code, self.text = status_code, text

    def json(self):
        return json.loads(self.text)


def _post(gateway, path, body, query=""):
    """Raw bytes to the gateway (the SDKs would normalise duplicate keys away)."""
    data = body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(f"{gateway.base}{path}{query}", data=data, method="POST", headers={
        "x-api-key": _KEY, "authorization": f"Bearer {_KEY}",
        "anthropic-version": "2023-06-01", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return _Answer(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        return _Answer(e.code, e.read().decode())


def _msg(content, **extra):
    body = {"model": "claude-opus-4-1", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    return json.dumps(body, ensure_ascii=False)


LEAKS = {
    "data: string": _msg(f"data:{IBAN}"),
    "plain-text document": _msg([{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": f"IBAN {IBAN}"}}]),
    "base64 text document": _msg([{"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": B64_IBAN}}]),
    "base64 text labelled as an image": _msg([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64_IBAN}}]),
    "tool input id": _msg([{"type": "tool_use", "id": "toolu_1", "name": "pay", "input": {"id": IBAN}}]),
    "tool input data/type/model": _msg([{"type": "tool_use", "id": "toolu_1", "name": "pay", "input": {"data": {"type": IBAN, "model": "x"}}}]),
    "metadata": _msg("hi", metadata={"user_id": f"IBAN {IBAN}"}),
    "unknown field": _msg("hi", x_custom={"deep": [[f"IBAN {IBAN}"]]}),
    "object key": _msg("hi", x_custom={f"IBAN {IBAN}": 1}),
    "JSON number": _msg("hi", x_custom={"card_number": 4111111111111111}),
    "IBAN split over two blocks": _msg([{"type": "text", "text": "My IBAN is DE89 3704 0044"}, {"type": "text", "text": "0532 0130 00"}]),
    "IBAN with dashes": _msg("IBAN DE89-3704-0044-0532-0130-00"),
    "IBAN with dots": _msg("IBAN DE89.3704.0044.0532.0130.00"),
    "IBAN with tabs": _msg("IBAN DE89\t3704\t0044\t0532\t0130\t00"),
    "IBAN with no-break spaces": _msg("IBAN DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000"),
    "IBAN with double spaces": _msg("IBAN DE89  3704  0044  0532  0130  00"),
    "IBAN in lower case": _msg("iban de89 3704 0044 0532 0130 00"),
    "IBAN with zero-width spaces": _msg("IBAN DE89\u200b3704\u200b0044\u200b0532\u200b0130\u200b00"),
    "IBAN in full-width digits": _msg("IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００"),
    "card with dots": _msg("card 4111.1111.1111.1111"),
    "card with double spaces": _msg("card 4111  1111  1111  1111"),
    "Hauptstr 5": _msg("Bitte an Hauptstr 5, 10115 Berlin schicken"),
    "Haupt-Straße 5": _msg("Lieferung an Haupt-Straße 5"),
    "HAUPTSTRASSE 5": _msg("ADRESSE: HAUPTSTRASSE 5"),
    "Berliner Straße 5": _msg("Ich wohne in der Berliner Straße 5"),
    "internationalised e-mail": _msg("schreib an jürgen@bäckerei-müller.de"),
    "Danish CPR": _msg("Mit CPR-nummer er 150774-8932"),
    "vendor token": _msg("token hf_kZpQrXwYtVuSnMlKjHgFdSaPoIuYtReWq"),
    "DSN credentials": _msg("DATABASE_URL=postgres://billing:Xq7rT9pLm2@db.internal:5432/billing"),
    "health of a colleague": _msg("Mein Kollege Jonas hatte gestern einen epileptischen Anfall und nimmt Lamotrigin."),
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_sensitive_data_in_any_shape_is_refused_above_sovereign(gateway, name):
    gateway.clear_upstream()
    r = _post(gateway, "/v1/messages", LEAKS[name])
    assert r.status_code == 403, (name, r.status_code, r.text)
    assert r.json()["error"]["type"] == "sovereignty_policy_violation"
    assert "3704" not in r.text
    assert gateway.upstream_requests() == []


def test_the_forwarded_query_string_is_scanned(gateway):
    gateway.clear_upstream()
    r = _post(gateway, "/v1/messages", _msg("hi"), query="?beta=true&iban=DE89370400440532013000")
    assert r.status_code == 403, r.text
    assert gateway.upstream_requests() == []


@pytest.mark.parametrize("path,body", [
    ("/v1/messages", '{"model":"claude-opus-4-1","max_tokens":5,"messages":[{"role":"user","content":"' + IBAN + '","content":"hello"}]}'),
    ("/v1/messages/count_tokens", '{"model":"chat-a","messages":[{"role":"user","content":"a","content":"b"}]}'),
    ("/v1/chat/completions", '{"model":"chat-a","messages":[{"role":"user","content":"a"}],"temperature":1,"temperature":0}'),
    ("/v1/embeddings", '{"model":"emb-a","input":"a","input":"b"}'),
])
def test_duplicate_keys_are_a_400_on_every_route(gateway, path, body):
    gateway.clear_upstream()
    r = _post(gateway, path, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert "duplicate key" in err["message"] and "$." in err["message"]
    if path.startswith("/v1/chat") or path.startswith("/v1/embeddings"):
        assert err["param"].startswith("$.")  # the OpenAI error shape has a param
    assert gateway.upstream_requests() == []


CLAUDE_CODE_SYSTEM = (
    "You are Claude Code, Anthropic's official CLI for Claude.\n"
    "When the user asks you to create a new git commit, end the commit message with:\n"
    "🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
    "Co-Authored-By: Claude <noreply@anthropic.com>\n"
    "To give feedback, users should report the issue at https://github.com/anthropics/claude-code/issues"
)


def test_claude_code_noreply_prompt_and_textbook_cases_are_served(gateway, anthropic_client):
    msg = anthropic_client.messages.create(
        model="claude-opus-4-1", max_tokens=10, system=CLAUDE_CODE_SYSTEM,
        messages=[{"role": "user", "content": "Commit the fix for the failing test. Questions go to support@example.org."}])
    assert msg.content[0].text == "Claude says hi."
    msg = anthropic_client.messages.create(
        model="claude-opus-4-1", max_tokens=10,
        messages=[{"role": "user", "content": "In a hypothetical case study, a 52-year-old patient with epilepsy takes lamotrigine. Which interactions matter?"}])
    assert msg.content[0].text == "Claude says hi."
    msg = anthropic_client.messages.create(
        model="claude-opus-4-1", max_tokens=10,
        messages=[{"role": "user", "content": "Translate our imprint: Lindner Maschinenbau GmbH, Industriestraße 7, 73728 Esslingen."}])
    assert msg.content[0].text == "Claude says hi."

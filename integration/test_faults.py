"""Issue 6: upstream faults through the official SDKs. Each test says what the client sees,
whether the request failed over to another deployment, and that the gateway kept serving.

Six scripted upstream processes: `good`, `faulty` (behaves per request, `x-script`), and four
that always misbehave (503, 429, 529, stall before headers); plus a port nobody listens on."""

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import CLIENT_KEY, UPSTREAM_KEY, Process, free_port, metric, small_config
from stavkeys import record

MSG = [{"role": "user", "content": "hello"}]
UPSTREAMS = {"good": "", "faulty": "", "bad503": "status-503", "bad429": "status-429",
             "bad529": "status-529", "stall": "sleep-5000"}


def provider(name, port, extra=""):
    return f'[[providers]]\nname = "{name}"\napi = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\n' \
           f'api_key_env = "STAV_IT_UPSTREAM_KEY"\nforward_headers = ["x-script*"]\n{extra}\n'


def model(name, prov, priority=0, upstream=None):
    up = f'upstream_model = "{upstream}"\n' if upstream else ""
    return f'[[models]]\nname = "{name}"\nprovider = "{prov}"\ntier = "sovereign"\npriority = {priority}\n{up}'


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    ports = {name: free_port() for name in UPSTREAMS}
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"), str(port), UPSTREAMS[name]],
                              stdout=subprocess.DEVNULL) for name, port in ports.items()]
    dead = free_port()
    quick = "first_byte_timeout_ms = 700\nidle_timeout_ms = 700\nconnect_timeout_ms = 500"
    providers = "".join(provider(n, p, quick) for n, p in ports.items()) + provider("dead", dead, quick) \
        + provider("bounded", ports["faulty"], quick + "\ntotal_timeout_ms = 1500")
    models = "".join([
        model("fo-connect", "dead"), model("fo-connect", "good", 1),
        model("fo-503", "bad503"), model("fo-503", "good", 1, "good-model"),
        model("fo-429", "bad429"), model("fo-429", "good", 1),
        model("fo-529", "bad529"), model("fo-529", "good", 1),
        model("fo-stall", "stall"), model("fo-stall", "good", 1),
        model("fo-chain", "dead"), model("fo-chain", "bad503", 1), model("fo-chain", "good", 2),
        model("only-503", "bad503"), model("only-429", "bad429"), model("only-529", "bad529"),
        model("only-dead", "dead"),
        model("chat", "faulty"), model("chat", "good", 1),
        model("chat-bounded", "bounded"),
        model("eject-me", "bad503"), model("eject-me", "good", 1),
    ])
    (tmp / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    port, admin = free_port(), free_port()
    text = small_config(port, admin, ports["good"], '[store]\nkind = "file"\npath = "keys.toml"')
    # Replace the small config's provider and models with the fault topology.
    text = text[:text.index("[[providers]]")] + providers + models
    (tmp / "faults.toml").write_text(text)
    try:
        for p in ports.values():
            from conftest import wait_http
            wait_http(f"http://127.0.0.1:{p}/_requests")
        gw = Process(tmp / "faults.toml", port, admin, ports["good"])
        yield gw, ports
        gw.stop()
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def requests_to(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_requests") as r:
        return json.loads(r.read())


def oa(gw):
    return openai.OpenAI(base_url=gw.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=15)


def an(gw):
    return anthropic.Anthropic(base_url=gw.gw.base, api_key=CLIENT_KEY, max_retries=0, timeout=15)


def still_serving(gw):
    r = oa(gw).chat.completions.create(model="chat", messages=MSG)
    assert r.choices[0].message.content == "Hello from the scripted upstream."


def anthropic_stream_fails(gw, script):
    """A translated stream for the Anthropic SDK under `script` ends in an error it raises."""
    with pytest.raises(anthropic.APIStatusError):
        with an(gw).messages.stream(model="chat", max_tokens=20, messages=MSG,
                                    extra_headers={"x-script": script}) as s:
            for _ in s.text_stream:
                pass


class Meanwhile:
    """Other clients are served while a fault is in progress: a request every 100 ms in a thread."""

    def __init__(self, gw):
        self.gw, self.done, self.results = gw, threading.Event(), []

    def __enter__(self):
        def run():
            while not self.done.is_set():
                try:
                    still_serving(self.gw)
                    self.results.append("ok")
                except Exception as e:
                    self.results.append(repr(e))
                time.sleep(0.1)
        self.thread = threading.Thread(target=run)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(15)
        assert self.results and all(r == "ok" for r in self.results), self.results[:3]


@pytest.mark.parametrize("name, upstream, reason", [
    ("fo-connect", None, "connect"),
    ("fo-503", "bad503", "status_5xx"),
    ("fo-429", "bad429", "status_429"),
    ("fo-529", "bad529", "status_529"),
    ("fo-stall", "stall", "timeout"),
])
def test_failover_before_the_first_byte(faults, name, upstream, reason):
    gw, ports = faults
    before_good = len(requests_to(ports["good"]))
    before = gw.gw.metrics()
    with Meanwhile(gw):
        r = oa(gw).chat.completions.with_raw_response.create(model=name, messages=MSG)
    assert r.parse().choices[0].message.content == "Hello from the scripted upstream."
    assert r.headers["x-stav-sovereignty-tier"] == "sovereign"
    assert len(requests_to(ports["good"])) == before_good + 1
    if upstream:
        assert requests_to(ports[upstream])[-1]["body"], "the faulty deployment was tried first"
    after = gw.gw.metrics()
    failed = upstream or "dead"
    assert metric(after, "stav_failovers_total", model=name, provider=failed, reason=reason) - \
        metric(before, "stav_failovers_total", model=name, provider=failed, reason=reason) == 1
    # The Anthropic SDK, translated, fails over the same way.
    m = an(gw).messages.create(model=name, max_tokens=20, messages=MSG)
    assert m.content[0].text == "Hello from the scripted upstream."


def test_failover_splices_each_deployments_model_name(faults):
    gw, ports = faults
    oa(gw).chat.completions.create(model="fo-503", messages=MSG)
    assert json.loads(requests_to(ports["good"])[-1]["body"])["model"] == "good-model"
    assert json.loads(requests_to(ports["bad503"])[-1]["body"])["model"] == "fo-503"


def test_a_chain_of_failures_is_bounded_and_ends_on_the_good_one(faults):
    gw, ports = faults
    r = oa(gw).chat.completions.create(model="fo-chain", messages=MSG, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in r if c.choices) == "Hello from the scripted upstream."


@pytest.mark.parametrize("name, status, sdk_error", [
    ("only-503", 503, openai.InternalServerError),
    ("only-429", 429, openai.RateLimitError),
    ("only-529", 529, openai.InternalServerError),
    ("only-dead", 502, openai.InternalServerError),
])
def test_without_another_deployment_the_client_gets_a_clean_error(faults, name, status, sdk_error):
    gw, _ = faults
    with pytest.raises(sdk_error) as e:
        oa(gw).chat.completions.create(model=name, messages=MSG)
    assert e.value.status_code == status
    assert UPSTREAM_KEY not in json.dumps(e.value.body) and UPSTREAM_KEY not in str(e.value.response.headers)
    with pytest.raises(anthropic.APIStatusError) as e:
        an(gw).messages.create(model=name, max_tokens=5, messages=MSG)
    # Anthropic's SDK knows overload as 529 (`overloaded_error`), so a 503 is told that way.
    assert e.value.status_code == {503: 529}.get(status, status)
    assert e.value.body["type"] == "error"
    assert UPSTREAM_KEY not in json.dumps(e.value.body)
    still_serving(gw)


def test_stall_mid_stream_ends_with_an_error_event_and_no_failover(faults):
    gw, ports = faults
    before_good = len(requests_to(ports["good"]))
    t0 = time.monotonic()
    stream = oa(gw).chat.completions.create(model="chat", messages=MSG, stream=True,
                                             extra_headers={"x-script": "stall-mid"})
    got = []
    with pytest.raises(openai.APIError) as e, Meanwhile(gw):
        for c in stream:
            got.append(c.choices[0].delta.content if c.choices else "")
    assert "".join(x or "" for x in got), "the first half arrived before the stall"
    assert "did not answer in time" in str(e.value), e.value
    assert time.monotonic() - t0 < 5
    assert len(requests_to(ports["good"])) == before_good, "no failover after the first byte"
    anthropic_stream_fails(gw, "stall-mid")
    still_serving(gw)


@pytest.mark.parametrize("script", ["cut", "malformed"])
def test_a_broken_stream_ends_with_an_error_event_in_both_sdks(faults, script):
    """`cut`: the upstream closes mid-event; `malformed`: an event whose JSON is broken."""
    gw, _ = faults
    with pytest.raises(openai.APIError):
        for _ in oa(gw).chat.completions.create(model="chat", messages=MSG, stream=True,
                                                 extra_headers={"x-script": script}):
            pass
    anthropic_stream_fails(gw, script)
    still_serving(gw)


def test_a_10_mb_event(faults):
    gw, _ = faults
    text = "".join(c.choices[0].delta.content or "" for c in oa(gw).chat.completions.create(
        model="chat", messages=MSG, stream=True, extra_headers={"x-script": "huge-event"}) if c.choices)
    assert len(text) == (10 << 20) + len("Hello from the scripted upstream.")
    # Translated for an Anthropic client, an event that large is refused cleanly, never cut.
    anthropic_stream_fails(gw, "huge-event")
    still_serving(gw)


def test_a_slow_drip_of_single_bytes(faults):
    gw, _ = faults
    text = "".join(c.choices[0].delta.content or "" for c in oa(gw).chat.completions.create(
        model="chat", messages=MSG, stream=True, extra_headers={"x-script": "drip"}) if c.choices)
    assert text == "Hello from the scripted upstream."
    with an(gw).messages.stream(model="chat", max_tokens=20, messages=MSG,
                                extra_headers={"x-script": "drip"}) as s:
        assert "".join(s.text_stream) == "Hello from the scripted upstream."


def test_an_upstream_that_ignores_the_request_body(faults):
    gw, _ = faults
    big = "x" * 300_000
    r = oa(gw).chat.completions.create(model="chat", messages=[{"role": "user", "content": big}],
                                        extra_headers={"x-script": "ignore-body"})
    assert r.choices[0].message.content == "answered before reading"
    still_serving(gw)


def test_a_client_that_leaves_cancels_the_upstream_request(faults):
    gw, ports = faults
    stream = oa(gw).chat.completions.create(model="chat", messages=MSG, stream=True,
                                             extra_headers={"x-script": "slow-stream"})
    for i, _ in enumerate(stream):
        if i == 5:
            break
    stream.close()
    # The upstream sees its connection closed within a couple of its 50 ms events.
    deadline = time.time() + 3
    while time.time() < deadline and not requests_to(ports["faulty"])[-1].get("client_gone"):
        time.sleep(0.05)
    assert requests_to(ports["faulty"])[-1].get("client_gone"), "the generation was left running"
    still_serving(gw)


def upstream_errors(gw, provider):
    return sum(float(l.rsplit(" ", 1)[1]) for l in gw.gw.metrics().splitlines()
               if l.startswith("stav_upstream_errors_total{") and f'provider="{provider}"' in l)


def test_the_total_timeout_ends_a_long_stream_with_an_error_event(faults):
    gw, _ = faults
    before = upstream_errors(gw, "bounded")
    t0 = time.monotonic()
    with pytest.raises(openai.APIError) as e:
        for _ in oa(gw).chat.completions.create(model="chat-bounded", messages=MSG, stream=True,
                                                 extra_headers={"x-script": "slow-stream"}):
            pass
    assert "total_timeout_ms" in str(e.value)
    assert 1.4 < time.monotonic() - t0 < 5
    assert upstream_errors(gw, "bounded") > before
    still_serving(gw)


def test_mid_stream_failures_are_counted(faults):
    gw, _ = faults
    before = upstream_errors(gw, "faulty")
    with pytest.raises(openai.APIError):
        for _ in oa(gw).chat.completions.create(model="chat", messages=MSG, stream=True,
                                                 extra_headers={"x-script": "cut"}):
            pass
    assert upstream_errors(gw, "faulty") > before


def test_a_failing_deployment_is_ejected_then_skipped(faults):
    gw, ports = faults
    for _ in range(3):
        oa(gw).chat.completions.create(model="eject-me", messages=MSG)
    m = gw.gw.metrics()
    assert metric(m, "stav_deployment_up", model="eject-me", provider="bad503") == 0
    assert metric(m, "stav_deployment_ejections_total", model="eject-me", provider="bad503") == 1
    tried = len(requests_to(ports["bad503"]))
    for _ in range(3):
        assert oa(gw).chat.completions.create(model="eject-me", messages=MSG).choices
    assert len(requests_to(ports["bad503"])) == tried, "an ejected deployment is tried last, not first"

"""The performance tooling works end to end: the scripted upstream answers both SDKs, and the load
benchmark runs every scenario and writes its table (tiny durations, debug binaries: this checks the
tool, not the figures)."""

import json
import subprocess
import sys

import anthropic
import openai
import pytest

from conftest import BIN, ROOT, free_port, needs, wait_http

BINS = BIN.parent


@pytest.fixture
def mock_upstream():
    port = free_port()
    proc = subprocess.Popen([BINS / "stav-mock-upstream", "--listen", f"127.0.0.1:{port}", "--chunks", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(5)


def test_mock_upstream_answers_both_sdks(mock_upstream):
    oa = openai.OpenAI(base_url=mock_upstream, api_key="unused", max_retries=0)
    c = oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert c.choices[0].message.content == "token " * 5
    assert c.usage.completion_tokens > 0
    chunks = list(oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                             stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "token " * 5
    assert chunks[-1].usage is not None

    an = anthropic.Anthropic(base_url=mock_upstream.removesuffix("/v1"), api_key="unused", max_retries=0)
    msg = an.messages.create(model="m", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text == "token " * 5
    with an.messages.stream(model="m", max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_message().content[0].text == "token " * 5


@needs("wrk")
@needs("callgrind_control")
def test_load_benchmark_runs_every_scenario(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, ROOT / "benches" / "load.py", "--bin-dir", BINS, "--duration", "1", "--rounds", "1",
         "--idle", "20", "--callgrind", "10", "--pairs", "2", "--out", out],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {r["scenario"]: r for r in result["scenarios"]}
    # The default configuration (access log on) first, then the same pass-through with it off.
    assert list(rows) == ["direct", "bare", "passthrough", "passthrough_log_off", "translate", "auto", "ledger",
                          "ledger_ship"]
    for name, r in rows.items():
        assert r["rps_32"] > 0 and r["requests_32"] > 0, name
        # Time to first token is measured once per gateway, on its default configuration.
        assert name == "passthrough_log_off" or 0 < r["ttft_ms"] < 1000, name
        if name != "direct":
            assert r["cpu_us_per_req"] > 0, name
        # Instructions (callgrind) are counted for the configurations as shipped.
        if name not in ("direct", "passthrough_log_off", "ledger_ship"):
            assert r["instructions_per_req"] > 0, name
    assert rows["bare"]["instructions_vs_bare"] == 1.0
    idle = result["memory"]["idle_20"]
    assert idle["gateway_kib_per_stream"] > 0 and idle["bare_kib_per_stream"] > 0
    assert "passthrough" in run.stdout and "idle_20" in run.stdout
    assert result["ledger"]["dropped_records"] == 0 and "ledger:" in run.stdout
    # The ledger's cost also from adjacent ABBA pairs of runs against the same pass-through.
    pairs = result["ledger"]["pairs"]
    assert len(pairs) == 2 and all(0.3 < p < 3 for p in pairs), pairs
    # And from its own threads (writer, shipper): they did work, and less than a whole request.
    assert 0 < result["ledger"]["own_threads_us_per_req"], result["ledger"]
    assert 0 < result["ledger"]["own_threads_share"] < 1, result["ledger"]
    # Shipping to PostgreSQL (which the test command installs) measured on a gateway of its own:
    # every record of its runs arrived, and its threads are counted the same way.
    ship = result["ledger"]["shipping"]
    assert ship["shipped_records"] >= rows["ledger_ship"]["requests_32"], ship
    assert 0 < ship["own_threads_us_per_req"] and 0 < ship["own_threads_share"] < 1, ship
    # The scrubber's cost: the same routes counted on a gateway with no credential to scrub.
    scrub = result["scrub"]
    for route in ("passthrough", "translate"):
        assert scrub[f"{route}_instructions_without_credential"] > 0, route
        assert 0.9 < scrub[f"{route}_instructions_vs_without"] < 2, route
        # Call sites into the scrubber were found in the callgrind dump and counted.
        assert scrub[f"{route}_scrubber_instructions"] > 0, route
        assert 0 < scrub[f"{route}_scrubber_share"] < 0.5, route
    assert "credential scrubber" in run.stdout

"""Issue 17: the request ledger. Every request recorded once, never its content; totals equal to
the upstream's usage; a hash chain `ledger verify` checks; shipping to a real PostgreSQL (started
here) that survives an outage and counts two nodes once; kill -9 under load; monthly budgets in
both contracts, on one node and shared by two on Redis."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import BIN, Process, free_port, keys_json, metric, small_config
from pg import Postgres, needs_postgres
from stavkeys import make_key, record
from test_keys import MSG, wait_until

KEY = make_key("ledgerkey001", "LedgerKeyForTheIntegrationTests0")
OTHER = make_key("ledgerkey002", "LedgerKeyForTheIntegrationTests1")

# What the scripted upstream reports when told to (x-script-usage).
OPENAI_USAGE = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 25}}
ANTHROPIC_USAGE = {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7,
                   "output_tokens": 40}


def ledger_section(dir_="ledger", postgres=None, extra=""):
    s = f'\n[ledger]\ndir = "{dir_}"\n{extra}\n'
    if postgres:
        s += f'postgres_url = "{postgres}"\n'
    return s


CLAUDE = """
[[providers]]
name = "anthropic-scripted"
api = "anthropic"
base_url = "http://127.0.0.1:{up}"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]

[[models]]
name = "claude-*"
provider = "anthropic-scripted"
tier = "global-commercial"
"""


def journal_lines(dir_):
    out = []
    for seg in sorted(Path(dir_).glob("*.jsonl")):
        out += [json.loads(l) for l in seg.read_text().splitlines() if l]
    return out


def cli(cfg, *args):
    return subprocess.run([str(BIN), *args, "--config", str(cfg)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def upstream():
    port = free_port()
    p = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"), str(port)],
                         stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    yield port
    p.terminate()
    p.wait(10)


@pytest.fixture(scope="module")
def postgres():
    if not __import__("pg").available():
        pytest.skip("PostgreSQL is installed by integration/prereqs.sh")
    pg = Postgres(free_port())
    pg.init()
    pg.start()
    pg.wait_up()
    yield pg
    pg.remove()


def keyed(pg, db):
    """Rows of requests made with a key (each gateway's start probes /v1/models without one)."""
    return int(pg.sql("select count(*) from stav_ledger where key_id is not null", db)[0][0])


def new_db(pg, name):
    pg.sql(f"CREATE DATABASE {name}")
    return pg.url(name)


def node(tmp, upstream, name, ledger, store=None, teams="", keys=None):
    """A gateway of this test's own with a ledger; its keys file next to its config."""
    tmp.mkdir(parents=True, exist_ok=True)
    if store is None:
        (tmp / "keys.toml").write_text(keys if keys is not None else record("ledgerkey001", "lt", KEY)
                                       + record("ledgerkey002", "lt2", OTHER))
        store = '[store]\nkind = "file"\npath = "keys.toml"'
    port, admin = free_port(), free_port()
    cfg = tmp / f"{name}.toml"
    cfg.write_text(small_config(port, admin, upstream, store, teams=CLAUDE.format(up=upstream) + teams + ledger))
    return Process(cfg, port, admin, upstream)


def oa(n, key=KEY):
    return openai.OpenAI(base_url=n.gw.base + "/v1", api_key=key, max_retries=0, timeout=10)


def an(n, key=KEY):
    return anthropic.Anthropic(base_url=n.gw.base, api_key=key, max_retries=0, timeout=10)


def traffic(n, key=KEY):
    """Every contract and bridge, whole and streamed; returns the expected (input, output, cached,
    reasoning) totals from what the upstream reports."""
    o, a = oa(n, key), an(n, key)
    ou = {"x-script-usage": json.dumps(OPENAI_USAGE)}
    au = {"x-script-usage": json.dumps(ANTHROPIC_USAGE)}
    o.chat.completions.create(model="chat-a", messages=MSG, extra_headers=ou)
    for _ in o.chat.completions.create(model="chat-a", messages=MSG, stream=True, extra_headers=ou):
        pass
    a.messages.create(model="chat-a", max_tokens=50, messages=MSG, extra_headers=ou)
    with a.messages.stream(model="chat-a", max_tokens=50, messages=MSG, extra_headers=ou) as s:
        s.until_done()
    a.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=MSG, extra_headers=au)
    with a.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSG, extra_headers=au) as s:
        s.until_done()
    o.chat.completions.create(model="claude-sonnet-4-5", messages=MSG, extra_headers=au)
    o.responses.create(model="chat-a", input="hi", extra_headers=ou)
    o.responses.create(model="claude-sonnet-4-5", input="hi", extra_headers=au)
    n_openai, n_anthropic = 5, 4
    return (n_openai * 120 + n_anthropic * 127, 9 * 40, 9 * 100, n_openai * 25)


@needs_postgres()
def test_totals_per_key_equal_the_upstream_usage_in_the_journal_postgres_and_reports(tmp_path, upstream, postgres):
    url = new_db(postgres, "totals")
    n = node(tmp_path, upstream, "a", ledger_section(postgres=url))
    try:
        want = traffic(n)
        oa(n, OTHER).chat.completions.create(model="chat-a", messages=MSG)  # 11 + 7, another key
        time.sleep(0.2)
        rows = [r for r in journal_lines(tmp_path / "ledger") if r["key_id"] == "ledgerkey001"]
        assert len(rows) == 9 and all(r["decision"] == "served" and not r["usage_estimated"] for r in rows)
        got = tuple(sum(r[k] for r in rows) for k in ("input_tokens", "output_tokens", "cached_tokens",
                                                      "reasoning_tokens"))
        assert got == want
        assert {r["contract"] for r in rows} == {"openai", "anthropic"}
        assert {r["stream"] for r in rows} == {True, False}
        wait_until(lambda: metric(n.gw.metrics(), "stav_ledger_lag_records") == 0
                   and keyed(postgres, "totals") == 10, timeout=10)
        pg = postgres.sql("select sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(reasoning_tokens)"
                          " from stav_ledger where key_id = 'ledgerkey001'", "totals")[0]
        assert tuple(int(x) for x in pg) == want
        report = json.loads(cli(n.cfg, "usage", "--by", "key", "--json").stdout)
        assert report["source"] == "postgres"
        by_key = {g["key"]: g for g in report["groups"]}
        assert (by_key["ledgerkey001"]["input_tokens"], by_key["ledgerkey001"]["output_tokens"]) == want[:2]
        assert by_key["ledgerkey002"]["input_tokens"] == 11
        assert metric(n.gw.metrics(), "stav_ledger_dropped_total") == 0
    finally:
        n.stop()


def test_refusals_and_failures_are_recorded_with_why_and_never_content(tmp_path, upstream):
    n = node(tmp_path, upstream, "a", ledger_section(),
             teams='\n[[teams]]\nname = "lt"\nmax_tier = "sovereign"\n')
    canary = "PROMPT-CANARY-7f3a my IBAN is DE89 3704 0044 0532 0130 00"
    try:
        o = oa(n)
        o.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": canary}],
                                  extra_headers={"x-script-content": "ANSWER-CANARY-91c2"})
        with pytest.raises(openai.PermissionDeniedError):
            o.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": canary}])
        with pytest.raises(openai.AuthenticationError):
            oa(n, "hm_live_nope").chat.completions.create(model="chat-a", messages=MSG)
        with pytest.raises(openai.APIStatusError):
            o.chat.completions.create(model="chat-a", messages=MSG, extra_headers={"x-script": "status-500"})
        time.sleep(0.2)
        rows = journal_lines(tmp_path / "ledger")
        by = {(r["decision"], r["reason"]): r for r in rows}
        refused = by[("refused", "sovereignty_policy_violation")]
        assert refused["requested_model"] == "claude-sonnet-4-5" and refused["max_tier"] == "sovereign"
        assert refused["cap_causes"] == ["team"] and refused["status"] == 403
        assert ("refused", "invalid_api_key") in by
        assert by[("failed", "upstream_status")]["status"] == 500
        served = by[("served", None)]
        assert served["model"] == "chat-a" and served["tier"] == "sovereign" and served["attempts"] == 1
        text = "".join(p.read_text() for p in (tmp_path / "ledger").glob("*"))
        for secret in ("CANARY", "DE89", "quarterly", KEY):
            assert secret not in text
    finally:
        n.stop()


def test_verify_names_a_flipped_byte_and_a_deleted_line(tmp_path, upstream):
    n = node(tmp_path, upstream, "a", ledger_section(extra="segment_bytes = 4096"))
    try:
        for _ in range(20):
            oa(n).chat.completions.create(model="chat-a", messages=MSG)
        time.sleep(0.2)
    finally:
        n.stop()
    r = cli(n.cfg, "ledger", "verify")
    # 21: the 20, and the probe of /v1/models the test harness makes at start (a 401).
    assert r.returncode == 0 and "21 records" in r.stdout, r.stdout + r.stderr
    segs = sorted((tmp_path / "ledger").glob("*.jsonl"))
    assert len(segs) > 1, "rotated by size"
    original = segs[1].read_bytes()
    lines = original.split(b"\n")
    seq = json.loads(lines[2])["seq"]
    flipped = bytearray(original)
    at = original.index(b'"output_tokens":', sum(len(l) + 1 for l in lines[:2])) + len('"output_tokens":')
    flipped[at] = ord("9") if flipped[at] != ord("9") else ord("8")
    segs[1].write_bytes(bytes(flipped))
    r = cli(n.cfg, "ledger", "verify")
    assert r.returncode == 1 and f"record {seq} (" in r.stdout and "was changed" in r.stdout, r.stdout
    segs[1].write_bytes(b"\n".join(lines[:2] + lines[3:]))
    r = cli(n.cfg, "ledger", "verify")
    assert r.returncode == 1 and f"record {seq} was removed" in r.stdout, r.stdout
    segs[1].write_bytes(original)
    assert cli(n.cfg, "ledger", "verify").returncode == 0
    csv = cli(n.cfg, "ledger", "export", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("seq,prev,hash,request_id") and len(csv) == 22
    assert len(cli(n.cfg, "ledger", "export", "--since", "2000-01-01").stdout.splitlines()) == 21
    assert cli(n.cfg, "ledger", "export", "--since", "2999-01-01").stdout == ""


@needs_postgres()
def test_postgres_stopped_during_traffic_every_record_arrives_exactly_once(tmp_path, upstream, postgres):
    url = new_db(postgres, "outage")
    n = node(tmp_path, upstream, "a", ledger_section(postgres=url))
    ids = []
    try:
        def send(k):
            for _ in range(k):
                raw = oa(n).chat.completions.with_raw_response.create(model="chat-a", messages=MSG)
                ids.append(raw.headers["x-request-id"])
        send(20)
        wait_until(lambda: keyed(postgres, "outage") == 20, timeout=10)
        postgres.stop()
        send(50)
        wait_until(lambda: metric(n.gw.metrics(), "stav_ledger_ship_errors_total") > 0
                   and metric(n.gw.metrics(), "stav_ledger_lag_records") >= 50, timeout=10)
        postgres.start()
        wait_until(lambda: metric(n.gw.metrics(), "stav_ledger_lag_records") == 0, timeout=20)
        send(10)
        wait_until(lambda: keyed(postgres, "outage") == 80, timeout=10)
    finally:
        n.stop()
    rows = postgres.sql("select request_id, count(*) from stav_ledger where key_id is not null group by 1",
                        "outage")
    assert sorted(r[0] for r in rows) == sorted(ids) and all(r[1] == "1" for r in rows)
    # A replay from the start (the position file lost) counts nothing twice.
    (tmp_path / "ledger" / "shipped.pos").unlink()
    n = Process(n.cfg, n.gw.port, int(n.gw.admin.rsplit(":", 1)[1]), upstream)
    try:
        wait_until(lambda: (tmp_path / "ledger" / "shipped.pos").exists()
                   and metric(n.gw.metrics(), "stav_ledger_lag_records") == 0, timeout=10)
        assert metric(n.gw.metrics(), "stav_ledger_shipped_total") >= 80
        assert keyed(postgres, "outage") == 80
        # Every journal record is in the table once: the first start's probe, the restart's.
        wait_until(lambda: postgres.sql("select count(*), count(distinct request_id) from stav_ledger",
                                        "outage") == [["82", "82"]], timeout=5)
    finally:
        n.stop()


@needs_postgres()
def test_two_nodes_ship_into_one_database(tmp_path, upstream, postgres):
    url = new_db(postgres, "twonodes")
    a = node(tmp_path / "a", upstream, "a", ledger_section(postgres=url))
    b = node(tmp_path / "b", upstream, "b", ledger_section(postgres=url))
    try:
        for n, k in ((a, 7), (b, 5)):
            for _ in range(k):
                oa(n).chat.completions.create(model="chat-a", messages=MSG)
        wait_until(lambda: keyed(postgres, "twonodes") == 12, timeout=10)
        nodes = postgres.sql("select node, count(*) from stav_ledger where key_id is not null group by 1 order by 2",
                             "twonodes")
        assert [c for _, c in nodes] == ["5", "7"]
        report = json.loads(cli(a.cfg, "usage", "--by", "team", "--json").stdout)
        lt = [g for g in report["groups"] if g["team"] == "lt"]
        assert lt == [dict(lt[0], requests=12, input_tokens=12 * 11, output_tokens=12 * 7)]
    finally:
        a.stop()
        b.stop()


def test_kill_9_under_load_loses_nothing_acknowledged_beyond_the_window(tmp_path, upstream):
    """Clients note when each answer completed; the gateway is killed (SIGKILL) while they keep
    going. Every request answered more than fsync_ms (100 ms) before the kill must be in the
    journal; the test prints the oldest acknowledged record that is not (the measured window)."""
    n = node(tmp_path, upstream, "a", ledger_section(extra="fsync_ms = 100"))
    done, stop = [], threading.Event()

    def worker():
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", n.gw.port, timeout=5)
        body = json.dumps({"model": "chat-a", "messages": MSG})
        while not stop.is_set():
            try:
                c.request("POST", "/v1/chat/completions", body,
                          {"authorization": f"Bearer {KEY}", "content-type": "application/json"})
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    done.append((time.monotonic(), r.getheader("x-request-id")))
            except Exception:
                return

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    killed_at = time.monotonic()
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    journal = {r["request_id"] for r in journal_lines(tmp_path / "ledger")}
    acked = [(t, rid) for t, rid in done if t <= killed_at]
    missing = [killed_at - t for t, rid in acked if rid not in journal]
    window_ms = max(missing, default=0) * 1000
    print(f"kill -9 after {len(acked)} acknowledged requests: {len(missing)} not in the journal, "
          f"the oldest answered {window_ms:.1f} ms before the kill")
    assert len(acked) > 200
    assert window_ms <= 100, f"an answer acknowledged {window_ms:.1f} ms before the kill is missing"
    # The journal the kill left behind is whole: it verifies, and a restart continues its chain.
    r = cli(n.cfg, "ledger", "verify")
    assert r.returncode == 0, r.stdout
    n2 = Process(n.cfg, n.gw.port, int(n.gw.admin.rsplit(":", 1)[1]), upstream)
    try:
        oa(n2).chat.completions.create(model="chat-a", messages=MSG)
        time.sleep(0.2)
    finally:
        n2.stop()
    assert cli(n.cfg, "ledger", "verify").returncode == 0


def usable(nodes, key):
    """Wait until every node knows a key just created (the snapshot reloads within ~200 ms)."""
    def ok():
        try:
            return all(oa(x, key).models.list() is not None for x in nodes)
        except openai.AuthenticationError:
            return False
    wait_until(ok, timeout=5)


def budget_errors(n, key):
    with pytest.raises(openai.RateLimitError) as e:
        oa(n, key).chat.completions.create(model="chat-a", messages=MSG)
    assert e.value.status_code == 429 and e.value.code == "insufficient_quota"
    assert e.value.body["type"] == "insufficient_quota"
    assert e.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.RateLimitError) as e:
        an(n, key).messages.create(model="chat-a", max_tokens=50, messages=MSG)
    assert e.value.body["error"]["type"] == "rate_limit_error" and "budget" in e.value.body["error"]["message"]


def test_budgets_refuse_in_both_contracts_and_survive_a_restart(tmp_path, upstream):
    teams = '\n[[teams]]\nname = "capped"\nbudget_tokens_month = 30\n'
    n = node(tmp_path, upstream, "a", ledger_section(), teams=teams)
    try:
        k = keys_json(n.cfg, "create", "--team", "lt", "--scope", "chat", "--scope", "models:read", "--budget-tokens-month", "30")
        assert k["budget_tokens_month"] == 30
        usable([n], k["key"])
        # 18 tokens a request (11 + 7): the second takes the key to 36 of 30, the third is refused.
        for _ in range(2):
            oa(n, k["key"]).chat.completions.create(model="chat-a", messages=MSG)
        time.sleep(0.1)
        budget_errors(n, k["key"])
        # A team budget binds its keys together.
        t1 = keys_json(n.cfg, "create", "--team", "capped", "--scope", "chat", "--scope", "models:read")["key"]
        t2 = keys_json(n.cfg, "create", "--team", "capped", "--scope", "chat", "--scope", "models:read")["key"]
        usable([n], t1)
        usable([n], t2)
        oa(n, t1).chat.completions.create(model="chat-a", messages=MSG)
        an(n, t2).messages.create(model="chat-a", max_tokens=50, messages=MSG)
        time.sleep(0.1)
        budget_errors(n, t1)
        budget_errors(n, t2)
    finally:
        n.stop()
    rows = journal_lines(tmp_path / "ledger")
    assert sum(r["reason"] == "budget_exceeded" for r in rows) == 6
    n = Process(n.cfg, n.gw.port, int(n.gw.admin.rsplit(":", 1)[1]), upstream)
    try:
        wait_until(lambda: "budgets seeded" in n.log_path.read_text(), timeout=5)
        budget_errors(n, k["key"])
        budget_errors(n, t1)
    finally:
        n.stop()


@pytest.mark.skipif(subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
                    reason="redis-server is installed by integration/prereqs.sh")
def test_budgets_are_shared_by_two_nodes_on_redis(tmp_path, upstream):
    from test_redis import Redis
    redis = Redis(tmp_path)
    redis.start()
    store = f'[store]\nkind = "redis"\nurl = "redis://127.0.0.1:{redis.port}/0"\nprefix = "ledgerit"\nnodes = 2'
    a = node(tmp_path / "a", upstream, "a", ledger_section(), store=store)
    b = node(tmp_path / "b", upstream, "b", ledger_section(), store=store)
    try:
        for x in (a, b):
            wait_until(lambda: metric(x.gw.metrics(), "stav_store_up") == 1, timeout=10)
        k = keys_json(a.cfg, "create", "--team", "lt", "--scope", "chat", "--scope", "models:read", "--budget-tokens-month", "40")["key"]
        usable([a, b], k)
        oa(a, k).chat.completions.create(model="chat-a", messages=MSG)
        time.sleep(0.1)
        an(b, k).messages.create(model="chat-a", max_tokens=50, messages=MSG)
        time.sleep(0.1)
        oa(a, k).chat.completions.create(model="chat-a", messages=MSG)
        time.sleep(0.1)
        # 54 of 40 across both nodes: spent on both.
        budget_errors(a, k)
        budget_errors(b, k)
    finally:
        a.stop()
        b.stop()
        redis.stop()

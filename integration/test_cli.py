"""`stav-gateway --check`: configuration errors name the field and exit non-zero."""

import json
import subprocess

import pytest

from conftest import BIN, ROOT

BASE = (ROOT / "conf" / "stav.toml").read_text()


def check(tmp_path, text, keys=None):
    (tmp_path / "keys.toml").write_text(keys if keys is not None else (ROOT / "conf" / "keys.toml").read_text())
    (tmp_path / "stav.toml").write_text(text)
    return subprocess.run([str(BIN), "--check", "--config", str(tmp_path / "stav.toml")],
                          capture_output=True, text=True, timeout=30)


def test_shipped_config_is_valid(tmp_path):
    r = check(tmp_path, BASE)
    assert r.returncode == 0, r.stderr
    assert "5 models" in r.stdout and "2 providers" in r.stdout and "1 teams" in r.stdout


@pytest.mark.parametrize("old, new, field", [
    ('provider = "stav-demo"\nupstream_model = "Qwen/Qwen3-32B"', 'provider = "nowhere"\nupstream_model = "Qwen/Qwen3-32B"',
     "models[0].provider"),
    ('tier = "routed-commercial"', 'tier = "eu-ish"', "models[1].tier"),
    ('name = "mistral-large"', 'name = "qwen3-32b"', "models[1].provider"),
    ('path = "keys.toml"', 'path = "absent.toml"', "store.path"),
    ('kind = "file"', 'kind = "zookeeper"', "store.kind"),
    ('api = "openai"', 'api = "soap"', "providers[0].api"),
    ('max_body_bytes = 33554432', 'max_body_bytez = 1', "max_body_bytez"),
])
def test_bad_config_names_the_field(tmp_path, old, new, field):
    assert old in BASE
    r = check(tmp_path, BASE.replace(old, new, 1))
    assert r.returncode != 0
    assert field in r.stderr


def test_bad_keys_file_names_the_entry(tmp_path):
    good = (ROOT / "conf" / "keys.toml").read_text()
    r = check(tmp_path, BASE, keys=good.replace('scopes = ["chat"', 'scopes = ["chat", "admin"'))
    assert r.returncode != 0
    assert "keys[0].scopes[1]" in r.stderr, r.stderr
    r = check(tmp_path, BASE, keys=good.replace('sha256 = "5aea', 'sha256 = "zzea'))
    assert r.returncode != 0
    assert "keys[0].secrets[0].sha256" in r.stderr


def test_explain_prints_signals_cap_and_decision():
    prompt = "Write a short poem for my landlord; my IBAN is DE89 3704 0044 0532 0130 00."
    r = subprocess.run([str(BIN), "explain", "--config", str(ROOT / "conf" / "stav.toml"), "--team", "demo"],
                       input=prompt, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    signals = json.loads(r.stdout.splitlines()[0].removeprefix("signals: "))
    assert signals["sensitive"] is True and signals["entities"] == ["iban"]
    assert "max_tier: sovereign (set by: sensitive data detected (iban))" in r.stdout
    assert "decision: qwen3-32b (default)" in r.stdout
    assert "DE89" not in r.stdout.split("\n", 1)[1]


def test_eval_router_reports_per_signal_metrics():
    r = subprocess.run([str(BIN), "eval-router", str(ROOT / "benches" / "data" / "router-dev.jsonl")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "rows: 160" in r.stdout
    for signal in ["code", "sensitive", "complexity low-vs-high", "domain"]:
        assert signal in r.stdout


def test_production_example_is_valid(tmp_path):
    r = check(tmp_path, (ROOT / "conf" / "production.example.toml").read_text())
    assert r.returncode == 0, r.stderr
    assert "5 models" in r.stdout and "2 teams" in r.stdout

"""`stav-gateway --check`: configuration errors name the field and exit non-zero."""

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
    assert "4 models" in r.stdout and "1 teams" in r.stdout


@pytest.mark.parametrize("old, new, field", [
    ('provider = "stav-demo"\nupstream_model = "Qwen/Qwen3-32B"', 'provider = "nowhere"\nupstream_model = "Qwen/Qwen3-32B"',
     "models[0].provider"),
    ('tier = "routed-commercial"', 'tier = "eu-ish"', "models[1].tier"),
    ('name = "mistral-large"', 'name = "qwen3-32b"', "models[1].name"),
    ('file = "keys.toml"', 'file = "absent.toml"', "keys.file"),
    ('api = "openai"', 'api = "soap"', "providers[0].api"),
    ('max_body_bytes = 33554432', 'max_body_bytez = 1', "max_body_bytez"),
])
def test_bad_config_names_the_field(tmp_path, old, new, field):
    assert old in BASE
    r = check(tmp_path, BASE.replace(old, new, 1))
    assert r.returncode != 0
    assert field in r.stderr


def test_bad_keys_file_names_the_entry(tmp_path):
    r = check(tmp_path, BASE, keys='[[keys]]\nid = "a"\nsha256 = "abc"\nteam = "t"\n')
    assert r.returncode != 0
    assert "keys[0].sha256" in r.stderr

"""Runs the TypeScript SDK tests (integration/ts, node:test) against the session's gateway."""

import os
import subprocess
from pathlib import Path

import pytest

from shutil import which as shutil_which

from conftest import CLIENT_KEY

TS = Path(__file__).parent / "ts"


@pytest.mark.parametrize("suite", sorted(p.name for p in TS.glob("*.test.mjs")))
def test_typescript_suite(gateway, suite):
    assert shutil_which("node"), "node is required (integration/prereqs.sh installs it)"
    if not (TS / "node_modules").exists():
        pytest.fail("run `npm ci` in integration/ts first (integration/test.sh does)")
    env = dict(os.environ, STAV_BASE=gateway.base, STAV_KEY=CLIENT_KEY)
    r = subprocess.run(["node", "--test", "--test-reporter=spec", suite], cwd=TS, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then the integration tests that drive the real binary
# with the official SDKs. Installs what it needs (system packages, a Python venv with the SDKs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash integration/prereqs.sh

VENV=integration/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r integration/requirements.txt

(cd integration/ts && npm ci --no-audit --no-fund --loglevel=error)

cargo build --bins
cargo test --all-targets
STAV_BIN="$PWD/target/debug/stav-gateway" "$VENV/bin/python" -m pytest -q integration "$@"

#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then the integration tests that drive the real binary
# with the official SDKs and real clients. Installs what it needs (system packages, Python venvs
# with the SDKs and clients, the pinned npm packages), each only when its lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash integration/prereqs.sh

# `stamped DIR FILE... -- COMMAND`: run COMMAND unless DIR/.stav-stamp matches the files' hash.
stamped() {
  local dir=$1; shift
  local files=()
  while [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  local want
  want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$dir/.stav-stamp" 2>/dev/null)" != "$want" ]; then
    "$@"
    echo "$want" > "$dir/.stav-stamp"
  fi
}

VENV=integration/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
stamped "$VENV" integration/requirements.txt integration/requirements-clients.txt -- \
  "$VENV/bin/pip" install -q --disable-pip-version-check -r integration/requirements.txt \
  -r integration/requirements-clients.txt
# instructor holds openai at an older release: a venv of its own.
IVENV=integration/.venv-instructor
[ -x "$IVENV/bin/python" ] || python3 -m venv "$IVENV"
stamped "$IVENV" integration/requirements-instructor.txt -- \
  "$IVENV/bin/pip" install -q --disable-pip-version-check -r integration/requirements-instructor.txt

for dir in integration/ts integration/clients; do
  mkdir -p "$dir/node_modules"
  stamped "$dir/node_modules" "$dir/package-lock.json" -- \
    bash -c "cd $dir && npm ci --no-audit --no-fund --loglevel=error"
done

cargo build --bins
cargo test --all-targets
STAV_BIN="$PWD/target/debug/stav-gateway" "$VENV/bin/python" -m pytest -q integration "$@"

#!/usr/bin/env bash
# Load benchmark: builds the release binaries, installs wrk if missing, runs benches/load.py.
# Loopback only; bounded in time (about 2 minutes). Usage: bash benches/load.sh [load.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash integration/prereqs.sh
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --bins
exec python3 benches/load.py "$@"

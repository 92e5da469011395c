#!/usr/bin/env bash
# Load benchmark: installs what it needs (wrk, valgrind: integration/prereqs.sh), builds the release
# binaries, runs benches/load.py.
# Loopback only; bounded in time (about 5 minutes: three rounds of every scenario, then idle streams). Usage: bash benches/load.sh [load.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash integration/prereqs.sh
cargo build --release --bins
exec python3 benches/load.py "$@"

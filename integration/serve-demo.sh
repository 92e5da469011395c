#!/usr/bin/env bash
# Runs the gateway on its built-in defaults (conf/stav.toml): a demo upstream on loopback,
# the public API on 127.0.0.1:8080, metrics on 127.0.0.1:9090.
set -euo pipefail
cd "$(dirname "$0")/.."
bash integration/prereqs.sh
exec cargo run --release --bin stav-gateway -- --config conf/stav.toml "$@"

#!/usr/bin/env bash
# The middleware's cost over TCP: the production stack against bare axum, with wrk as the
# load generator (reference/server/benches/middleware_tcp.rs says what it measures). From
# anywhere:
#
#   bash reference/server/benches/middleware_tcp.sh [OPTIONS]   # e.g. --rounds 5 --duration 10
#
# Installs wrk from Debian when it is missing (apt-get, as root or through sudo), then runs
# the bench in release.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"

if ! command -v wrk >/dev/null; then
    echo "middleware_tcp.sh: installing wrk (apt-get install wrk)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get install -y wrk >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; }
fi

exec cargo bench -p dx-server --bench middleware_tcp -- "$@"

#!/usr/bin/env bash
# The sync fan-out benchmark: dx-reference against a Node.js server on the npm `ws` package
# (benches/sync/src/main.rs says what it measures and prints). From anywhere:
#
#   bash benches/sync/run.sh [BENCH OPTIONS]      # e.g. --rounds 5, --parts fanout,idle
#
# Installs the Node server's dependencies (npm ci: the registry must be reachable), builds
# dx-reference in the root workspace and the bench in its own, both in release, then runs
# the bench. Needs node (18 or later); the two-instance part needs Redis (REDIS_URL, else
# redis://127.0.0.1:6379) and skips without it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
. benches/common.sh

# Ten thousand idle connections take as many descriptors in the bench and in each server.
raise_open_files
echo "open-file limit: $(ulimit -n)"

command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm is not installed" >&2; exit 1; }
(cd benches/sync/node && npm ci --no-audit --no-fund)

build_reference

exec cargo run --release --manifest-path benches/sync/Cargo.toml -- \
    --reference "$reference" "$@"

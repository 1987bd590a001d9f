#!/usr/bin/env bash
# Mixed load, faults under load and soak against dx-reference (benches/load/README.md).
# From anywhere:
#
#   bash benches/load/run.sh [DRIVER OPTIONS]     # e.g. --instances 2 --faults services
#
# Builds dx-reference in the root workspace and the driver in its own, both in release,
# then runs the driver, which starts the instances as child processes on PostgreSQL
# (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test) and Redis (REDIS_URL, else
# redis://127.0.0.1:6379). `--faults services` stops and starts both services with the
# commands of the README (root, a local PostgreSQL 15 cluster and Redis).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
. benches/common.sh

raise_open_files
build_reference
cargo build --release --manifest-path benches/load/Cargo.toml

exec "$root/benches/load/target/release/dx-load" --reference "$reference" "$@"

#!/usr/bin/env bash
# The one command that builds the dx-conformance binary. CI runs it as it is (a debug build
# over the artifacts its tests left); the Dockerfile runs it with --release. A test
# (properties/cli/tests/repository.rs) checks that both call this script and that nothing
# else builds the binary, so the image is built the way CI builds and tests it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo build --locked -p dx-conformance-cli --bin dx-conformance "$@"

#!/usr/bin/env bash
# The client as it ships: rustc with the workspace's `wasm` profile, then binaryen's
# `wasm-opt -Oz` (as wasm-pack does for a release; `apt-get install binaryen`). Prints both
# sizes, raw and after brotli, against the 8 KiB budget (spec/client-abi.md). The server's
# build script does the same for the client it serves.
#
#   reference/client/release.sh            # target/wasm32-unknown-unknown/wasm/dx_client.opt.wasm
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --quiet --locked -p dx-client --target wasm32-unknown-unknown --profile wasm
built=target/wasm32-unknown-unknown/wasm/dx_client.wasm
shipped=target/wasm32-unknown-unknown/wasm/dx_client.opt.wasm
# The features rustc enables for wasm32-unknown-unknown; also in reference/server/build.rs.
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
  "$built" -o "$shipped"

size() { wc -c < "$1" | tr -d ' '; }
brotli_size() { if command -v brotli >/dev/null; then brotli -c -q 11 "$1" | wc -c | tr -d ' '; else echo "?"; fi; }
printf 'dx_client.wasm from rustc: %s bytes, %s brotli\n' "$(size "$built")" "$(brotli_size "$built")"
printf 'dx_client.opt.wasm (shipped): %s bytes (budget 8192), %s brotli\n' "$(size "$shipped")" "$(brotli_size "$shipped")"
if [ "$(size "$shipped")" -gt 8192 ]; then
  echo "the client is over its 8 KiB budget" >&2
  exit 1
fi

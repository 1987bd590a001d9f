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
# For the benchmark report (benches/record's format), when it names a results file.
if [ -n "${DX_BENCH_RESULTS:-}" ]; then
  raw_built=$(size "$built"); raw_shipped=$(size "$shipped")
  br_built=$(brotli_size "$built"); br_shipped=$(brotli_size "$shipped")
  met=$([ "$raw_shipped" -le 8192 ] && echo true || echo false)
  {
    printf '{"kind":"count","group":null,"what":"shipped client, raw","value":%s,"unit":"bytes","of":null,"goal":{"text":"the 8 KiB budget of spec/client-abi.md","test":"at_most","bound":8192},"met":%s,"note":null}\n' "$raw_shipped" "$met"
    printf '{"kind":"figure","group":null,"figure":"client .wasm, raw","unit":"bytes","better":"lower","ours":{"name":"shipped (wasm-opt -Oz)","value":%s},"peer":{"name":"rustc output alone","value":%s},"ratio":%s,"goal":null,"met":null,"note":null}\n' \
      "$raw_shipped" "$raw_built" "$(awk "BEGIN { print $raw_shipped / $raw_built }")"
    if [ "$br_built" != "?" ]; then
      printf '{"kind":"figure","group":null,"figure":"client .wasm, brotli 11","unit":"bytes","better":"lower","ours":{"name":"shipped (wasm-opt -Oz)","value":%s},"peer":{"name":"rustc output alone","value":%s},"ratio":%s,"goal":null,"met":null,"note":null}\n' \
        "$br_shipped" "$br_built" "$(awk "BEGIN { print $br_shipped / $br_built }")"
    fi
  } >> "$DX_BENCH_RESULTS"
fi
if [ "$(size "$shipped")" -gt 8192 ]; then
  echo "the client is over its 8 KiB budget" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) and prints, per target, the executions,
# the corpus size and whether it crashed. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Corpora live in fuzz/corpus/<target> (not committed);
# a crash leaves its input in fuzz/artifacts/<target> and makes the script exit 1.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
status=0
for target in htip_decode delta_apply client_render; do
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1
    code=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [[ -z "$execs" ]]; then
        execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    corpus=$(find "corpus/$target" -type f | wc -l)
    if [[ $code -eq 0 ]]; then verdict="no crash"; else verdict="CRASH (exit $code, see fuzz/artifacts/$target)"; status=1; fi
    printf '%-14s %6ss  %12s executions  %6s corpus inputs  %s\n' "$target" "$seconds" "${execs:-?}" "$corpus" "$verdict"
    if [[ $code -ne 0 ]]; then tail -30 "$log"; fi
    rm -f "$log"
done
exit $status

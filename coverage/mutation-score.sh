#!/usr/bin/env bash
# Mutation score per coverage group.
#
# Line coverage says code ran; the mutation score says tests would notice if it
# were wrong. For each live (non-pending) group of coverage/gates.toml except
# "workspace" (too slow, and the sum of the groups) and "suite" (the conformance suite
# itself, whose tests take minutes per mutant), this runs cargo-mutants on
# the group's files and summarises caught / missed / timeout / unviable.
#
# usage: coverage/mutation-score.sh [GROUP]
#   GROUP          run only this group, as named in gates.toml ("rate limiter")
#   MUTANTS_ARGS   extra cargo-mutants arguments, split on spaces, for example
#                  MUTANTS_ARGS="--test-workspace=true --jobs 2"
#
# Results go to target/mutants/<group>/mutants.out/ (spaces in the group name
# become "-"). Exit status: 0 when every run produced results (missed mutants
# are reported, not fatal), 1 when a run produced none (e.g. the baseline
# tests failed), 2 on a usage error.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" | sed -n '/^usage:/,$p' >&2
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    usage
    exit 0
fi
if [[ $# -gt 1 || "${1:-}" == -* ]]; then
    usage
    exit 2
fi
only="${1:-}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if ! command -v python3 >/dev/null 2>&1; then
    echo "mutation-score: python3 is needed to read outcomes.json" >&2
    exit 2
fi
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutation-score: installing cargo-mutants" >&2
    cargo install cargo-mutants --locked
fi

# `name<TAB>pattern`, one line per pattern of each live group.
listing="$(cargo run --quiet -p dx-coverage-gate -- --list-groups --gates coverage/gates.toml)"

declare -a groups=()
declare -A patterns=()
while IFS=$'\t' read -r name pattern; do
    # The suite's own group: its tests run the whole suite against the reference, minutes
    # per mutant; coverage/suite-mutation-score.sh measures the suite the other way round.
    [[ -z "$name" || "$name" == "workspace" || "$name" == "suite" ]] && continue
    if [[ -n "$only" && "$name" != "$only" ]]; then
        continue
    fi
    if [[ -z "${patterns[$name]+set}" ]]; then
        groups+=("$name")
        patterns[$name]=""
    fi
    patterns[$name]+="$pattern"$'\n'
done <<<"$listing"

if [[ ${#groups[@]} -eq 0 ]]; then
    if [[ -n "$only" ]]; then
        echo "mutation-score: no live group named \"$only\" (pending, unknown, \"workspace\" or \"suite\")" >&2
        exit 2
    fi
    echo "mutation-score: no live group to run (all pending?)" >&2
    exit 0
fi

read -r -a extra <<<"${MUTANTS_ARGS:-}"

slug() { printf '%s' "${1// /-}"; }

failed_runs=0
for name in "${groups[@]}"; do
    out_dir="target/mutants/$(slug "$name")"
    mkdir -p "$out_dir"
    # The auto-set test timeout (3 x the baseline) is measured on an idle machine; a
    # floor of 60 s keeps a mutant on a busy two-core machine from counting as a hang.
    args=(mutants --timeout-multiplier 3 --minimum-test-timeout 60 --output "$out_dir")
    while IFS= read -r pattern; do
        [[ -n "$pattern" ]] && args+=(--file "$pattern")
    done <<<"${patterns[$name]}"
    echo "== $name: cargo ${args[*]} ${extra[*]+${extra[*]}}" >&2
    status=0
    cargo "${args[@]}" ${extra[@]+"${extra[@]}"} || status=$?
    # 0 all caught, 2 missed mutants, 3 timeouts: results exist; anything
    # else (baseline failure, usage error) means no usable score.
    case "$status" in
        0 | 2 | 3) ;;
        *)
            echo "mutation-score: cargo mutants failed for \"$name\" (exit $status)" >&2
            failed_runs=$((failed_runs + 1))
            ;;
    esac
done

summary_status=0
python3 - "${groups[@]}" <<'PY' || summary_status=$?
import json
import os
import sys

rows = []
missing = 0
for name in sys.argv[1:]:
    out = os.path.join("target", "mutants", name.replace(" ", "-"), "mutants.out")
    try:
        with open(os.path.join(out, "outcomes.json"), encoding="utf-8") as f:
            outcomes = json.load(f)["outcomes"]
    except (OSError, KeyError, ValueError) as err:
        print(f"mutation-score: no results for {name!r}: {err}", file=sys.stderr)
        missing += 1
        continue
    counts = {"CaughtMutant": 0, "MissedMutant": 0, "Timeout": 0, "Unviable": 0}
    for outcome in outcomes:
        # The unmutated baseline run is not a mutant.
        if outcome.get("scenario") == "Baseline":
            continue
        summary = outcome.get("summary")
        if summary in counts:
            counts[summary] += 1
    caught, missed = counts["CaughtMutant"], counts["MissedMutant"]
    timeout, unviable = counts["Timeout"], counts["Unviable"]
    tested = caught + missed + timeout
    score = f"{100.0 * caught / tested:.1f}" if tested else "-"
    rows.append((name, caught, missed, timeout, unviable, score, out))

header = ("group", "caught", "missed", "timeout", "unviable", "score%")
table = [header] + [tuple(str(c) for c in row[:6]) for row in rows]
widths = [max(len(r[i]) for r in table) for i in range(len(header))]
print()
for r in table:
    cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
    print("  ".join(cells))

for name, _, missed, *_rest, out in rows:
    if not missed:
        continue
    print(f"\nmissed mutants in {name!r}:")
    try:
        with open(os.path.join(out, "missed.txt"), encoding="utf-8") as f:
            for line in f:
                print("  " + line.rstrip("\n"))
    except OSError as err:
        print(f"  (cannot read missed.txt: {err})")

sys.exit(1 if missing else 0)
PY

if [[ $failed_runs -gt 0 || $summary_status -ne 0 ]]; then
    exit 1
fi

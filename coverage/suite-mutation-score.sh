#!/usr/bin/env bash
# The suite's own mutation score: of the realistic bugs cargo-mutants writes into the
# reference's spec-bearing code, how many does the black-box suite ALONE catch? Only the
# property checks (dx-conformance's black_box test) and the Gherkin scenarios (dx-features'
# cucumber test) run, against the embedded reference; no unit test of the reference does.
# A mutant they miss is a bug a real implementation could ship and still pass the suite.
#
# usage: coverage/suite-mutation-score.sh [--shard K/N] [--all] [--name NAME] [FILE...]
#   FILE           reference source files to mutate (default: every file of
#                  reference/server/src, reference/error/src, reference/auth/src and
#                  reference/security/src not excluded below)
#   --shard K/N    run only the K-th of N shards of those mutants, so the run can be split
#   --all          mutate the excluded files and functions too
#   --name NAME    results go to target/mutants/suite-NAME (default: from the files and shard)
#   --only TAGS    run only these properties' checks and scenarios, e.g. --only p01,p02 (the
#                  black_box tests named pNN_* and the scenarios tagged @pNN); for mutating
#                  one area's files, whose bugs that area's checks are there to catch
#   --scenarios TAGS  run the scenarios with any of these tags instead of @pNN for each of
#                  --only, e.g. --scenarios @sync (sync.feature's scenarios check requirements,
#                  not properties, so none is tagged @p22-@p25)
#   MUTANTS_ARGS   extra cargo-mutants arguments, split on spaces
#   MUTANTS_TIMEOUT  seconds a mutant's tests may run (default 90); a mutant that makes many
#                  checks wait out their timeouts may need more to be seen failing
#
# Results go to target/mutants/suite-<name>/mutants.out/; a table of caught, missed,
# timeout and unviable per file follows, then every missed mutant. Exit status: 0 when the
# run produced results (missed mutants are reported, not fatal), 1 when the unmutated suite
# fails or no results came out, 2 on a usage error.
set -euo pipefail

usage() {
    sed -n '/^# usage:/,/^# Results/{/^# Results/d;s/^# \{0,1\}//p}' "$0" >&2
}

# Files whose mutants the black-box suite cannot see by construction, and why. They stay
# covered by the reference's own tests (coverage/mutation-score.sh).
excluded=(
    "reference/server/src/main.rs|process entry point: flag parsing and exit codes, tested by reference/server/tests/binary.rs"
    "reference/server/src/mutants.rs|the deliberate-mutant switch itself, compiled only with the mutants feature"
    "reference/server/src/telemetry.rs|log output format, not on the wire"
    "reference/server/src/config.rs|parsing of flags, environment and files; the embedded target is built from Config::conformance(), so no request can reach it"
    "reference/server/src/server.rs|process start-up and shutdown signals, tested by reference/server/tests/binary.rs"
    "reference/server/src/keys.rs|loading key files; the embedded target signs with an ephemeral key, and the key id the wire shows is dx_auth::key_id (mutated in reference/auth/src/keys.rs)"
    "reference/auth/src/mutants.rs|the deliberate-mutant switch itself, compiled only with the mutants feature"
    "reference/auth/src/store/suite.rs|the generic store test suite: test code that ships in the crate so other back ends can run it"
    "reference/auth/src/store/memory.rs|the memory store for unit tests; the server runs on SQLite or Postgres"
    "reference/auth/src/store/postgres.rs|Postgres; the embedded target runs on SQLite, and both share the statements of store/sql.rs (a macro, which cargo-mutants does not mutate); the store suite covers Postgres in CI"
    "reference/error/src/recovery.rs|start-up connection retries with backoff (requirement 2.3, no property, no wire behaviour)"
    "reference/security/src/mutants.rs|the deliberate-mutant switch itself, compiled only with the mutants feature"
    "reference/security/src/rate_limit/suite.rs|the generic rate-limit store test suite: test code that ships in the crate"
    "reference/security/src/rate_limit/redis.rs|the Redis store; the embedded target keeps counts in memory; the store suite and the two-instance test cover Redis in CI"
    "reference/query/src/mutants.rs|the deliberate-mutant switch itself, compiled only with the mutants feature"
    "reference/sync/src/mutants.rs|the deliberate-mutant switch itself, compiled only with the mutants feature"
    "reference/sync/src/broker/redis.rs|the Redis broker; the embedded target runs on the memory broker; the broker suite and the two-instance CI step cover Redis"
    "reference/security/src/clock.rs|the manual clock is for tests; the system clock's monotonic guard cannot be observed without moving the machine's clock"
)

# Functions inside spec-bearing files whose every effect is off the wire, and why. Their
# mutants are not generated (cargo mutants --exclude-re); --all generates them too.
excluded_functions=(
    "PanicError::message|panic_message|ErrorBoundary::(name|failures|panics)|what an error boundary logs and counts: the log and counters, never a response"
    "ErrorKind::as_str|Display for ErrorKind|Display for ErrorCode|Display for Context|Display for Profile|LeakCategory::describe|names and texts written only to log lines"
    "DxError::(context|query_context|source_error|source_chain)|debug_details|an error's internal context and causes: written to the log and to details.debug, which only the development profile MAY send (spec/error-format.md); the suite's targets run the conformance profile"
    "find_leak|first_match|is_sensitive|sanitize_value|the reference's last line of defence on texts it writes itself: every text a server writes is clean, so no request can make the filter matter (the suite judges responses with its own patterns)"
    "SafeRwLock|no server state uses SafeRwLock yet"
    "SafeMutex<T>::is_poisoned|read only by the mutex-not-recovered mutant switch, which is off in the suite's target"
    "reason_of|the wording of a 400 message, which the spec leaves to the server (it only has to be the server's own)"
    "log_error|the server's log lines"
    "check_mutant|the mutex-not-recovered mutant switch, off in the suite's target"
    "ManualClock|a clock for tests; the server reads SystemClock"
    "InvalidReason::as_str|why a token was refused, written only to log lines (spec/tokens.md answers every reason alike)"
    "AuthService::rehash|needs_rehash|HashCost::weaker_than|re-hashing at login with stronger parameters: the old and new hash both verify, so logins answer alike either way (a SHOULD of spec/auth.md, covered by the reference's tests)"
    "purge_expired|purge_periodically|forgetting revocations and refresh records after their expiry: expiry refuses those tokens anyway, so no answer changes"
    "HashingPool::workers|HashingPool::for_this_machine|the size of the hashing pool, a resource choice; saturation itself (503 with Retry-After) is on the wire"
    "RedisSessions|session_store_suite|the Redis session store and the store test suite that ships in the crate: the embedded target keeps sessions in memory; the store suite and the two-instance test cover Redis in CI"
    "SecurityConfig::validate|checks a security configuration at start-up; the server's configurations are valid, so no request reaches it (reference/security's unit tests pin every rule)"
    "ServerFrame::decode|ClientFrame::encode|Reader<'a>::str8|the other end's half of the sync codec: a server decodes client frames and encodes server frames, never the reverse (these serve Rust clients and the crate's tests); Reader::str8 reads only server frames' user ids and messages"
    "Tables for HeapTables|HeapTables::new|the decoder's heap-backed tables, for native users of dx-htip and dx-client: the shipped client decodes into InlineTables (reference/client/src/wasm.rs), so no host call reaches them"
    "(replace|in) apply( ->|$)|(replace|in) (is_)?identity( ->|$)|ErrorCode::(from_code|name|is_structural)|PartialEq<&str> for Text|Text<'a>::(as_str|is_empty)|Stream<'a, T>::(string_count|clone_count|templates)|Event::name|the HTIP crate's conveniences for native users and its tests: the shipped client applies patches with apply_into, reads a stream's operations one by one, and the ABI carries codes and names as numbers; the server calls none of them, so no request or host call reaches them"
    "declared_len|the trusts-length mutant's own mistake, compiled into the client only with its feature"
    "Debug for (Client|Text|Stream)|Display for Text|how the client's and the HTIP decoder's values print: in test failures and logs, never in the client's memory or the host calls"
    "Shard::make_room|MemoryStore::(capacity|len|is_empty)|MemorySessions::(len|is_empty)|the memory stores' bounds under a flood of distinct keys (a million rate-limit keys, a million sessions): reaching them takes far more requests than a suite sends; the reference's unit tests pin them"
)

shard=""
name=""
only=""
scenarios=""
all=false
files=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --shard) shard="${2:-}"; shift 2 || { usage; exit 2; } ;;
        --all) all=true; shift ;;
        --name) name="suite-${2:-}"; shift 2 || { usage; exit 2; } ;;
        --only) only="${2:-}"; shift 2 || { usage; exit 2; } ;;
        --scenarios) scenarios="${2:-}"; shift 2 || { usage; exit 2; } ;;
        -*) usage; exit 2 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [[ -n "$shard" && ! "$shard" =~ ^[0-9]+/[0-9]+$ ]]; then
    echo "suite-mutation-score: --shard takes K/N, e.g. 1/4" >&2
    exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if ! command -v python3 >/dev/null 2>&1; then
    echo "suite-mutation-score: python3 is needed to read outcomes.json" >&2
    exit 2
fi
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "suite-mutation-score: installing cargo-mutants" >&2
    cargo install cargo-mutants --locked
fi

if [[ ${#files[@]} -eq 0 ]]; then
    while IFS= read -r f; do
        skip=false
        if ! $all; then
            for entry in "${excluded[@]}"; do
                [[ "${entry%%|*}" == "$f" ]] && skip=true
            done
        fi
        $skip || files+=("$f")
    done < <(git ls-files 'reference/server/src/*.rs' 'reference/error/src/*.rs' 'reference/auth/src/*.rs' 'reference/security/src/*.rs')
fi
for f in "${files[@]}"; do
    [[ -f "$f" ]] || { echo "suite-mutation-score: no file $f" >&2; exit 2; }
done

if ! $all; then
    echo "Excluded files (outside the wire contract; --all includes them):" >&2
    for entry in "${excluded[@]}"; do
        echo "  ${entry%%|*}: ${entry#*|}" >&2
    done
    echo "Excluded functions (every effect off the wire; --all includes them):" >&2
    for entry in "${excluded_functions[@]}"; do
        echo "  ${entry%|*}: ${entry##*|}" >&2
    done
fi

# --only: libtest name filters for black_box, feature tags for cucumber (which ignores the
# filters and reads DX_FEATURE_TAGS).
filters=()
if [[ -n "$only" ]]; then
    IFS=',' read -r -a filters <<<"$only"
    export DX_FEATURE_TAGS="$(printf '@%s,' "${filters[@]}")"
fi
[[ -n "$scenarios" ]] && export DX_FEATURE_TAGS="$scenarios"

# The suite must pass against the unmutated reference, or no mutant result means anything.
suite=(test -p dx-conformance -p dx-features --test black_box --test cucumber -- ${filters[@]+"${filters[@]}"})
echo "== baseline: cargo ${suite[*]}" >&2
if ! cargo "${suite[@]}" >/dev/null 2>&1; then
    echo "suite-mutation-score: the black-box suite fails on the unmutated reference; fix that first" >&2
    exit 1
fi

if [[ -z "$name" ]]; then
    name="suite${shard:+-${shard/\//-of-}}"
    [[ ${#files[@]} -eq 1 ]] && name="suite-$(basename "${files[0]}" .rs)${shard:+-${shard/\//-of-}}"
fi
out_dir="target/mutants/$name"
mkdir -p "$out_dir"
# Only the two suite binaries are built for each mutant (--cargo-arg reaches both the build
# and the test command), not every test target of the two packages.
args=(mutants --baseline skip --timeout "${MUTANTS_TIMEOUT:-90}" --build-timeout 600 --copy-target true
    --output "$out_dir" --test-package dx-conformance,dx-features
    --cargo-arg=--test --cargo-arg=black_box --cargo-arg=--test --cargo-arg=cucumber)
[[ -n "$shard" ]] && args+=(--shard "$shard")
for f in "${files[@]}"; do args+=(--file "$f"); done
if ! $all; then
    for entry in "${excluded_functions[@]}"; do
        args+=(--exclude-re "(${entry%|*})")
    done
fi
read -r -a extra <<<"${MUTANTS_ARGS:-}"
args+=(${extra[@]+"${extra[@]}"})
[[ ${#filters[@]} -gt 0 ]] && args+=(-- -- "${filters[@]}")
echo "== cargo ${args[*]}" >&2
# Linking the two test binaries is most of each mutant's build; mold makes it several times
# faster where it is installed (apt-get install mold). Only the mutants' own copy of the tree
# is built with it, so the checkout's target/ is left as it was.
linker=()
if command -v mold >/dev/null 2>&1; then
    linker=(env CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-fuse-ld=mold")
fi
status=0
${linker[@]+"${linker[@]}"} cargo "${args[@]}" || status=$?
# 0 all caught, 2 missed mutants, 3 timeouts: results exist; anything else means no score.
case "$status" in
    0 | 2 | 3) ;;
    *) echo "suite-mutation-score: cargo mutants failed (exit $status)" >&2; exit 1 ;;
esac

python3 - "$out_dir/mutants.out" <<'PY'
import collections
import json
import os
import sys

out = sys.argv[1]
with open(os.path.join(out, "outcomes.json"), encoding="utf-8") as f:
    outcomes = json.load(f)["outcomes"]

kinds = ("CaughtMutant", "MissedMutant", "Timeout", "Unviable")
per_file = collections.defaultdict(lambda: dict.fromkeys(kinds, 0))
for outcome in outcomes:
    scenario = outcome.get("scenario")
    if not isinstance(scenario, dict) or "Mutant" not in scenario:
        continue
    mutant = scenario["Mutant"]
    path = mutant.get("file") or mutant.get("source_file") or "?"
    if isinstance(path, dict):
        path = path.get("path") or path.get("tree_relative_path") or "?"
    summary = outcome.get("summary")
    if summary in kinds:
        per_file[path][summary] += 1

rows = [(path, *(c[k] for k in kinds)) for path, c in sorted(per_file.items())]
totals = tuple(sum(r[i] for r in rows) for i in range(1, 5))
rows.append(("total", *totals))
header = ("file", "caught", "missed", "timeout", "unviable", "score%")

def score(caught, missed, timeout):
    tested = caught + missed + timeout
    return f"{100.0 * caught / tested:.1f}" if tested else "-"

table = [header] + [(r[0], *map(str, r[1:]), score(*r[1:4])) for r in rows]
widths = [max(len(r[i]) for r in table) for i in range(len(header))]
print()
for r in table:
    print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
print("\nscore = caught / (caught + missed + timeout): a mutant that makes the suite hang is not counted as caught")

missed = os.path.join(out, "missed.txt")
if os.path.exists(missed):
    with open(missed, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    if lines:
        print(f"\nmissed by the black-box suite ({len(lines)}):")
        for line in lines:
            print("  " + line)
PY

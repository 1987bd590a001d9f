#!/usr/bin/env bash
# Mozilla HTTP Observatory's grade of dx-reference's production profile served over TLS, with
# its plain-HTTP listener redirecting to HTTPS. From anywhere:
#
#   bash benches/httpobs/grade.sh
#
# Creates a virtualenv (target/httpobs-venv, or $HTTPOBS_VENV) with the scanner pinned in
# benches/httpobs/requirements.txt (PyPI must be reachable the first time), makes a throwaway
# CA and a certificate for localhost with openssl, builds dx-reference (debug; or runs
# $DX_REFERENCE), starts it with --profile production --ephemeral-store --tls-cert --tls-key
# --redirect-http on free loopback ports, and runs the scanner's local scan against it,
# trusting that CA (no --no-verify): once on `/`, once on the CSRF token endpoint, which sets
# the session and token cookies. Prints each scan's grade, score and every test's result;
# exits 1 unless both are A+ with a score of at least 100. Needs python3 (3.9 or later) and
# openssl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here="benches/httpobs"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="${HTTPOBS_VENV:-$target/httpobs-venv}"

command -v python3 >/dev/null || { echo "grade.sh: python3 is not installed" >&2; exit 1; }
command -v openssl >/dev/null || { echo "grade.sh: openssl is not installed" >&2; exit 1; }

# The venv is reused while requirements.txt is unchanged.
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-deps -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [ -z "${DX_REFERENCE:-}" ]; then
    cargo build --quiet -p dx-server --bin dx-reference
    DX_REFERENCE="$target/debug/dx-reference"
fi

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A CA and a leaf for localhost and 127.0.0.1 (P-256), valid two days.
cat >"$work/leaf.ext" <<'EOF'
basicConstraints=CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=dx-www httpobs test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/key.pem" -out "$work/leaf.csr" 2>/dev/null
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/leaf.ext" -out "$work/cert.pem" 2>/dev/null

read -r https_port http_port plain_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')

# The graded server keeps nothing: no database or Redis of the caller's environment (CI
# exports both), which --ephemeral-store refuses to combine with.
env -u DATABASE_URL -u REDIS_URL "$DX_REFERENCE" --profile production --ephemeral-store \
    --bind "127.0.0.1:$https_port" --redirect-http "127.0.0.1:$http_port" \
    --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --log-format json \
    >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    grep -q 'dx-reference listening' "$work/server.log" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
grep -q 'dx-reference listening' "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }

echo "dx-reference --profile production over TLS on 127.0.0.1:$https_port, redirecting from :$http_port"
status=0
for path in / /api/v1/session/csrf; do
    REQUESTS_CA_BUNDLE="$work/ca.pem" "$venv/bin/httpobs-local-scan" \
        --http-port "$http_port" --https-port "$https_port" --path "$path" --format json \
        localhost >"$work/scan.json"
    cp "$work/scan.json" "$work/scan-tls${path//\//-}.json"
    "$venv/bin/python" - "$work/scan.json" "$path" <<'EOF' || status=1
import json, sys
scan = json.load(open(sys.argv[1]))
grade, score = scan["scan"]["grade"], scan["scan"]["score"]
print(f"{sys.argv[2]}: {grade} ({score}/100), {scan['scan']['tests_passed']} of "
      f"{scan['scan']['tests_quantity']} tests pass")
for name, test in sorted(scan["tests"].items()):
    mark = "pass" if test["pass"] else "FAIL"
    print(f"  {mark} {name:<30} {test['score_modifier']:+3d}  {test['result']}")
# Without any plain-HTTP listener the scanner passes redirection as "not needed": the grade
# must come from the redirect itself.
redirect = scan["tests"]["redirection"]["result"]
if redirect != "redirection-to-https":
    print(f"  the plain listener did not redirect to HTTPS: {redirect}")
    sys.exit(1)
sys.exit(0 if grade == "A+" and score >= 100 else 1)
EOF
done
if [ "$status" -ne 0 ]; then
    echo "grade.sh: below A+ (score 100)" >&2
fi

# The peer, for the benchmark report: the same binary and profile over plain HTTP, graded by
# the same scanner in the same run.
if [ -n "${DX_BENCH_RESULTS:-}" ]; then
    env -u DATABASE_URL -u REDIS_URL "$DX_REFERENCE" --profile production --ephemeral-store \
        --bind "127.0.0.1:$plain_port" --log-format json >"$work/plain.log" 2>&1 &
    plain=$!
    for _ in $(seq 1 300); do
        grep -q 'dx-reference listening' "$work/plain.log" && break
        sleep 0.1
    done
    "$venv/bin/httpobs-local-scan" --http-port "$plain_port" --format json localhost \
        >"$work/scan-plain.json" || true
    kill "$plain" 2>/dev/null || true
    wait "$plain" 2>/dev/null || true
    "$venv/bin/python" - "$work" >>"$DX_BENCH_RESULTS" <<'EOF'
import json, sys
work = sys.argv[1]
def scan(name):
    try:
        return json.load(open(f"{work}/{name}"))["scan"]
    except (OSError, ValueError, KeyError):
        return None
plain = scan("scan-plain.json")
for path, name in [("/", "scan-tls-.json"), ("/api/v1/session/csrf", "scan-tls-api-v1-session-csrf.json")]:
    tls = scan(name)
    if tls is None:
        continue
    ours, peer = tls["score"], plain["score"] if plain else None
    print(json.dumps({
        "kind": "figure", "group": None, "figure": f"HTTP Observatory score, {path}",
        "unit": "points", "better": "higher",
        "ours": {"name": f"over TLS with the redirecting listener ({tls['grade']})", "value": ours},
        "peer": {"name": f"the same binary over plain HTTP, / ({plain['grade']})" if plain else "plain HTTP (its scan failed)", "value": peer},
        "ratio": ours / peer if peer else None,
        "goal": {"text": "A+ (a score of at least 100)", "test": "at_least", "bound": 100},
        "met": tls["grade"] == "A+" and ours >= 100,
        "note": f"{tls['tests_passed']} of {tls['tests_quantity']} tests pass",
    }))
EOF
fi
exit "$status"

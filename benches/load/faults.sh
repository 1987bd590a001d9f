#!/usr/bin/env bash
# Faults under load, as `cargo benchmarks` runs them: the mixed load over two instances while
# PostgreSQL then Redis stop for 5 s each, then while the second instance is killed (SIGKILL),
# then while it is asked to stop (SIGTERM). From anywhere:
#
#   bash benches/load/faults.sh [services|kill|term ...]    # default: all three
#
# The services run stops and starts a throwaway PostgreSQL cluster (port 5433) and Redis
# (port 6380) made here and removed afterwards, never the machine's own, which other work
# may be using. Making the cluster needs root (it runs initdb as the postgres user) and
# PostgreSQL's server binaries (apt-get install postgresql). The kill and term runs use
# DATABASE_URL and REDIS_URL (defaults: the local PostgreSQL and Redis), as run.sh does.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(services kill term)

services() {
    local bin dir pg_port=5433 redis_port=6380
    bin="/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)/bin"
    [ -x "$bin/initdb" ] || { echo "faults.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; return 1; }
    [ "$(id -u)" -eq 0 ] || { echo "faults.sh: making a throwaway cluster needs root" >&2; return 1; }
    dir="$(mktemp -d /tmp/dx-faults.XXXXXX)"
    chown postgres "$dir"
    local start_pg="$bin/pg_ctl -D $dir/data -l $dir/log -w -o '-p $pg_port -c listen_addresses=127.0.0.1 -k $dir' start"
    local start_redis="redis-server --daemonize yes --bind 127.0.0.1 --port $redis_port --save '' --appendonly no --dir $dir"
    cleanup() {
        su postgres -c "$bin/pg_ctl -D $dir/data -w -m immediate stop" >/dev/null 2>&1 || true
        redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
        rm -rf "$dir"
    }
    trap cleanup RETURN
    su postgres -c "$bin/initdb -D $dir/data -A trust -U postgres" >/dev/null
    su postgres -c "$start_pg" >/dev/null
    "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres test
    eval "$start_redis" >/dev/null
    bash "$here/run.sh" --instances 2 --faults services \
        --database-url "postgres://postgres@127.0.0.1:$pg_port/test" \
        --redis-url "redis://127.0.0.1:$redis_port" \
        --pg-stop "su postgres -c '$bin/pg_ctl -D $dir/data -w -m fast stop'" \
        --pg-start "su postgres -c \"$start_pg\"" \
        --redis-stop "redis-cli -p $redis_port shutdown nosave" \
        --redis-start "$start_redis"
}

# Every run goes ahead whatever the one before found; the script fails at the end if any did.
failed=()
for run in "${runs[@]}"; do
    case "$run" in
        services) services || failed+=("$run") ;;
        kill | term) bash "$here/run.sh" --instances 2 --faults "$run" || failed+=("$run") ;;
        *) echo "faults.sh: unknown run $run (services, kill, term)" >&2; exit 2 ;;
    esac
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "faults.sh: failed: ${failed[*]}" >&2
    exit 1
fi

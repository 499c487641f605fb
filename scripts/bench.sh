#!/usr/bin/env bash
# `make bench`: measures Loopdesk with tools/loadgen. Uses the system already answering
# on the default ports, or starts one as `make run` does (release build) and stops it
# afterwards. Flags for the load generator go in BENCH_ARGS, e.g.
#   make bench BENCH_ARGS='-n 20000 -c 64 --rate 1500 --duration 20 --fanout 1,10,100'
# Results: bench/results/<time>.json and .svg, bench/results/latest.md and latest.svg.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# PROFILE=profiling builds without LTO and with line tables (Cargo.toml).
profile="${PROFILE:-release}"
bin="$CARGO_TARGET_DIR/$profile"
gateway_ready() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$GATEWAY_PORT/readyz") == 200 ]]
}

run_pid=""
cleanup() {
    if [[ -n $run_pid ]]; then
        say "stopping the services the benchmark started..."
        kill -TERM "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if gateway_ready; then
    say "using the Loopdesk already running on :$GATEWAY_PORT (its rate limit must allow the offered load)"
    cargo build --profile "$profile" -p loopdesk-loadgen -p loopdesk-cli
else
    say "building $profile binaries..."
    cargo build --profile "$profile" -p api-gateway -p ticket-service -p intervention-service -p webhook-fanout \
        -p epilog-dispatcher -p loopdesk-cli -p loopdesk-loadgen
    mkdir -p "$RUN_DIR"
    # The benchmark is one API key pushing thousands of requests a second: lift the
    # per-key limit, and log at warn so logging does not dominate the measurement.
    LOOPDESK_RATE_LIMIT__PER_SECOND=1000000 LOOPDESK_RATE_LIMIT__BURST=1000000 \
        LOOPDESK_TELEMETRY__LOG_LEVEL=warn LOOPDESK_TELEMETRY__LOG_FORMAT=json \
        PROFILE="$profile" NO_BUILD=1 "$REPO_ROOT/scripts/run.sh" >"$RUN_DIR/bench-run.log" 2>&1 &
    run_pid=$!
    say "starting the services (log .run/bench-run.log)..."
    if ! wait_for "Loopdesk" 120 gateway_ready; then
        tail -n 40 "$RUN_DIR/bench-run.log" >&2 || true
        exit 1
    fi
fi

load_dev_env
# Every run starts from tables without the dead rows of earlier runs, whatever
# autovacuum has got round to.
if command -v psql >/dev/null 2>&1; then
    say "vacuuming the loopdesk database..."
    psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d loopdesk -c 'VACUUM (ANALYZE)' || true
fi
# A tenant of its own, so the benchmark's webhook endpoints see only its own tickets.
tenant="bench-$(date +%s)"
key=$("$bin/loopdesk" token create --tenant "$tenant" --env test \
    --abilities create-ticket,tickets:read,webhooks:admin --label "make bench" --ttl-days 1 2>/dev/null)

services=()
for name in api-gateway ticket-service intervention-service webhook-fanout epilog-dispatcher; do
    if [[ -f "$RUN_DIR/$name.pid" ]]; then
        services+=(--service "$name=$(<"$RUN_DIR/$name.pid")")
    fi
done

# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
LOADGEN_KEY="$key" "$bin/loadgen" "${services[@]}" ${BENCH_ARGS:-}

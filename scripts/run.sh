#!/usr/bin/env bash
# `make run`: builds and starts ticket-service, intervention-service, webhook-fanout,
# epilog-dispatcher and api-gateway on their default ports
# against the local PostgreSQL and RabbitMQ, mints a test key and shows how to use it.
# Stays in the foreground; Ctrl-C stops both services.
#
# Logs: .run/ticket-service.log and .run/api-gateway.log. Any LOOPDESK_* variable in
# your environment is passed through (e.g. LOOPDESK_BROKER__PREFIX=mine). NO_BUILD=1
# skips the build and runs the binaries built last.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

READY_TIMEOUT=${READY_TIMEOUT:-60}

# --- infrastructure -------------------------------------------------------------------
missing=()
postgres_ready || missing+=("PostgreSQL ($PG_HOST:$PG_PORT)")
rabbitmq_ready || missing+=("RabbitMQ ($AMQP_HOST:$AMQP_PORT)")
if ((${#missing[@]} > 0)); then
    say "Not reachable: ${missing[*]}"
    print_start_hints
    exit 1
fi

taken=()
port_open 127.0.0.1 "$TICKETS_PORT" && taken+=("$TICKETS_PORT (ticket-service)")
port_open 127.0.0.1 "$GATEWAY_PORT" && taken+=("$GATEWAY_PORT (api-gateway)")
port_open 127.0.0.1 "$WEBHOOKS_PORT" && taken+=("$WEBHOOKS_PORT (webhook-fanout)")
port_open 127.0.0.1 "$INTERVENTIONS_PORT" && taken+=("$INTERVENTIONS_PORT (intervention-service)")
port_open 127.0.0.1 "$EPILOGS_PORT" && taken+=("$EPILOGS_PORT (epilog-dispatcher)")
if ((${#taken[@]} > 0)); then
    say "Port(s) already in use: ${taken[*]}."
    say "Is another \`make run\` still going? Stop it with Ctrl-C or scripts/stop.sh,"
    say "or find the process with: ss -ltnp | grep -E ':($TICKETS_PORT|$GATEWAY_PORT) '"
    exit 1
fi

# Both services share one database, each in its own schema, and migrate it themselves.
if command -v psql >/dev/null 2>&1; then
    psql_admin=(psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
    if [[ $("${psql_admin[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'loopdesk'") != 1 ]]; then
        "${psql_admin[@]}" -c 'CREATE DATABASE loopdesk'
        say "created database loopdesk"
    fi
    # Loopdesk's outbox, delivery and idempotency tables churn: without autovacuum their
    # dead rows pile up and every scan of them slows down (seen: a 78 ms count of an
    # empty outbox). Some development machines ship with it off.
    if [[ $("${psql_admin[@]}" -tAc 'SHOW autovacuum') == off ]]; then
        say "PostgreSQL's autovacuum is off: turning it on (ALTER SYSTEM, reload)"
        "${psql_admin[@]}" -c 'ALTER SYSTEM SET autovacuum = on' -c 'SELECT pg_reload_conf()' >/dev/null
    fi
else
    say "psql not found: assuming the database 'loopdesk' exists (docker compose creates it)"
fi

# --- build ----------------------------------------------------------------------------
# PROFILE=profiling builds without LTO and with line tables (Cargo.toml).
profile="${PROFILE:-release}"
bin="$CARGO_TARGET_DIR/$profile"
if [[ ${NO_BUILD:-0} == 1 ]]; then
    say "NO_BUILD=1: using the binaries already in $bin"
else
    say "building release binaries (the first build takes several minutes)..."
    cargo build --profile "$profile" -p api-gateway -p ticket-service -p intervention-service -p webhook-fanout \
        -p epilog-dispatcher \
        -p loopdesk-cli
fi

load_dev_env
export LOOPDESK_TELEMETRY__LOG_FORMAT="${LOOPDESK_TELEMETRY__LOG_FORMAT:-pretty}"
# Local development only: webhooks may go to plain-http receivers on this machine.
# Production keeps the defaults (https only, global addresses only).
export LOOPDESK_OUTBOUND__ALLOW_HTTP="${LOOPDESK_OUTBOUND__ALLOW_HTTP:-true}"
export LOOPDESK_OUTBOUND__ALLOW_CIDRS="${LOOPDESK_OUTBOUND__ALLOW_CIDRS:-127.0.0.0/8,::1/128}"

# --- start ----------------------------------------------------------------------------
pids=()
pid_files=()
stopping=0
stop_all() {
    ((stopping)) && return
    stopping=1
    trap - INT TERM
    if ((${#pids[@]} > 0)); then
        say ""
        say "stopping services..."
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
        # Only this run's pid files: a run refused for busy ports must not forget the
        # one that holds them.
        rm -f "${pid_files[@]}"
    fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# Answers 0 when the service is ready, 1 while it is not, and stops the wait (exit) if
# the process has died.
ready() {
    local name=$1 pid=$2 port=$3
    if ! kill -0 "$pid" 2>/dev/null; then
        say "$name exited during start-up; last lines of .run/$name.log:"
        tail -n 30 "$RUN_DIR/$name.log" >&2 || true
        exit 1
    fi
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz") == 200 ]]
}

start() {
    local name=$1 port=$2
    "$bin/$name" >"$RUN_DIR/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    echo "$pid" >"$RUN_DIR/$name.pid"
    pid_files+=("$RUN_DIR/$name.pid")
    say "started $name (pid $pid, log .run/$name.log), waiting for /readyz..."
    if ! wait_for "$name" "$READY_TIMEOUT" ready "$name" "$pid" "$port"; then
        say "last lines of .run/$name.log:"
        tail -n 30 "$RUN_DIR/$name.log" >&2 || true
        exit 1
    fi
}

# The ticket service declares the command queue the gateway sends to, so it goes first.
start ticket-service "$TICKETS_PORT"
start intervention-service "$INTERVENTIONS_PORT"
start webhook-fanout "$WEBHOOKS_PORT"
start epilog-dispatcher "$EPILOGS_PORT"
start api-gateway "$GATEWAY_PORT"

key=$("$bin/loopdesk" token create --tenant acme --env test --abilities "$ALL_ABILITIES" \
    --label "make run" 2>/dev/null)

cat <<INFO

Loopdesk is running:
  api-gateway     http://127.0.0.1:$GATEWAY_PORT   (log .run/api-gateway.log)
  ticket-service  http://127.0.0.1:$TICKETS_PORT   (log .run/ticket-service.log)
  intervention-service  http://127.0.0.1:$INTERVENTIONS_PORT   (log .run/intervention-service.log)
  webhook-fanout  http://127.0.0.1:$WEBHOOKS_PORT   (log .run/webhook-fanout.log)
  epilog-dispatcher  http://127.0.0.1:$EPILOGS_PORT   (log .run/epilog-dispatcher.log)

A test key for tenant acme with every ability (mint more with \`make token\`):

  export KEY='$key'

Create a ticket (201 with the ticket; the same Idempotency-Key again replays the answer):

  curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/v1/tickets \\
    -H "Authorization: Bearer \$KEY" \\
    -H "Idempotency-Key: \$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" \\
    -H 'Content-Type: application/json' \\
    -d '{"subject":"Printer on fire","requester":{"email":"ann@example.com"}}'

Read it back (use the "id" from the answer):

  curl -s http://127.0.0.1:$GATEWAY_PORT/v1/tickets/tkt_... -H "Authorization: Bearer \$KEY"

List tickets, newest first:

  curl -s 'http://127.0.0.1:$GATEWAY_PORT/v1/tickets?limit=10' -H "Authorization: Bearer \$KEY"

Subscribe a webhook receiver (the answer shows its signing secret once):

  curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/v1/webhook_endpoints \\
    -H "Authorization: Bearer \$KEY" -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" \\
    -H 'Content-Type: application/json' \\
    -d '{"url":"http://127.0.0.1:9000/hooks","event_types":["ticket.*"]}'

Press Ctrl-C to stop the services.
INFO

# Stay in the foreground; if one service dies, stop the others too.
set +e
wait -n "${pids[@]}"
status=$?
set -e
if ((!stopping)); then
    say "a service exited (status $status); see .run/*.log"
    exit 1
fi

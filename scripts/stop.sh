#!/usr/bin/env bash
# Stops services left running by `make run` (from the pid files in .run/). Only
# processes whose pid file names them, and that still run that binary, are signalled.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

targets=()
for name in api-gateway ticket-service webhook-fanout intervention-service epilog-dispatcher; do
    file="$RUN_DIR/$name.pid"
    [[ -f $file ]] || continue
    pid=$(<"$file")
    # A stale pid file may name a pid reused by something else: check the binary name
    # (comm is truncated to 15 characters).
    if [[ $pid =~ ^[0-9]+$ ]] && [[ $(ps -p "$pid" -o comm= 2>/dev/null) == "${name:0:15}" ]]; then
        targets+=("$pid")
        say "stopping $name (pid $pid)"
    fi
    rm -f "$file"
done
if ((${#targets[@]} == 0)); then
    say "nothing to stop"
    exit 0
fi
# Signalled together: `make run` stops the other service as soon as one exits anyway.
kill -TERM "${targets[@]}" 2>/dev/null || true

#!/usr/bin/env bash
# Drops test databases (`t_<unix seconds>_<8 chars>`, made by loopdesk-testkit) older
# than OLDER_THAN_MINUTES (default 60), i.e. ones left behind by crashed test runs.
# Recent ones are kept: a test run may be using them right now.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

older_than=${OLDER_THAN_MINUTES:-60}
cutoff=$(($(date +%s) - older_than * 60))
psql_admin=(psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

dropped=0
while read -r name; do
    [[ -n $name ]] || continue
    created=${name#t_}
    created=${created%%_*}
    if ((created < cutoff)); then
        "${psql_admin[@]}" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
        dropped=$((dropped + 1))
    fi
done < <("${psql_admin[@]}" -tAc "SELECT datname FROM pg_database WHERE datname ~ '^t_[0-9]+_[a-z0-9]{8}\$'")
say "dropped $dropped test database(s) older than $older_than minutes"

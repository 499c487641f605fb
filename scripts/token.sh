#!/usr/bin/env bash
# Mints a test API key with every ability for tenant `acme` (override with TENANT=...),
# signed with the same local dev key as `make run`, and prints only the key on stdout:
#   KEY=$(make -s token)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
load_dev_env

exec cargo run --quiet --release -p loopdesk-cli --bin loopdesk -- token create \
    --tenant "${TENANT:-acme}" --env test --abilities "${ABILITIES:-$ALL_ABILITIES}" \
    --label "local dev key"

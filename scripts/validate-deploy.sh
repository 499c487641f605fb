#!/usr/bin/env bash
# Offline validation of the deployment files, run by `make validate-deploy` (part of
# `make test`):
#   - Dockerfile: non-root runtime stage, exec-form ENTRYPOINT, the SERVICE build argument;
#   - docker-compose.yml: `docker-compose config` (Docker Compose v2 itself), then the
#     stack's own rules (five services, health checks on /readyz, start order, grace
#     periods against the drain bounds);
#   - deploy/kubernetes and deploy/prometheus: rendered by `kubectl kustomize` (each base
#     on its own too), every resource validated against the schemas of a pinned
#     Kubernetes version (kubernetes-validate, strict) or, for the operators' kinds
#     (RabbitmqCluster, CloudNativePG Cluster, PrometheusRule), against deploy/schemas/;
#     then the resources' references to each other, and grace periods against the drain
#     bound each service is configured with (its default in services/*/config/default.toml).
# The tools come from PyPI (deploy/validate/requirements.txt) into a venv under
# $HOME/.cache/loopdesk, installed once and again only when that file changes.
#
#   scripts/validate-deploy.sh              validate the files of this checkout
#   scripts/validate-deploy.sh --self-test  break copies of them on purpose, one way at a
#                                           time, and fail unless each break is caught
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$PWD
# The Kubernetes version the manifests must be valid for (the oldest one supported).
K8S_VERSION=${K8S_VERSION:-1.33.0}
VENV=${LOOPDESK_DEPLOY_VENV:-$HOME/.cache/loopdesk/deploy-venv}
REQUIREMENTS=$REPO_ROOT/deploy/validate/requirements.txt
CHECK=$REPO_ROOT/deploy/validate/check.py
BASES=(infra api-gateway ticket-service intervention-service epilog-dispatcher webhook-fanout)

say() { printf '%s\n' "$*" >&2; }

# Creates or updates the venv; a stamp (the requirements it was made from) keeps a warm
# run to one comparison.
ensure_tools() {
    if [[ -x $VENV/bin/python ]] && cmp -s "$REQUIREMENTS" "$VENV/.requirements"; then
        return
    fi
    say "installing the deploy validation tools into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/.requirements"
}

# Validates the deployment files under $1 (a checkout, or a broken copy of one).
# Runs in its own process (--tree) when the self-test calls it, so that `set -e` holds.
validate_tree() {
    local root=$1 out=$SCRATCH/render
    mkdir -p "$out"

    "$VENV/bin/python" "$CHECK" dockerfile "$root/Dockerfile"

    # --project-directory: the copy's paths, whatever the current directory.
    "$VENV/bin/docker-compose" --project-directory "$root" -f "$root/docker-compose.yml" config -q
    "$VENV/bin/docker-compose" --project-directory "$root" -f "$root/docker-compose.yml" \
        config --format json >"$out/compose.json"
    "$VENV/bin/python" "$CHECK" compose --services "$REPO_ROOT/services" "$out/compose.json"

    local base
    for base in "${BASES[@]}"; do
        "$VENV/bin/kubectl" kustomize "$root/deploy/kubernetes/base/$base" >"$out/base-$base.yaml"
    done
    "$VENV/bin/kubectl" kustomize "$root/deploy/kubernetes" >"$out/kubernetes.yaml"
    "$VENV/bin/kubectl" kustomize "$root/deploy/prometheus" >"$out/prometheus.yaml"
    # The whole stack, with its cross-references; each base is then checked alone, as
    # `kubectl apply -k base/<service>` would send it.
    "$VENV/bin/python" "$CHECK" manifests --k8s-version "$K8S_VERSION" \
        --schemas "$root/deploy/schemas" --cross-references --services "$REPO_ROOT/services" \
        "$out/kubernetes.yaml" "$out/prometheus.yaml"
    "$VENV/bin/python" "$CHECK" manifests --k8s-version "$K8S_VERSION" \
        --schemas "$root/deploy/schemas" "$out"/base-*.yaml
}

# Replaces the first `old` by `new` in a file, failing when `old` is not there (a
# mutation that no longer applies must not pass as caught).
mutate() {
    "$VENV/bin/python" - "$@" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if old not in text:
    sys.exit(f"self-test mutation does not apply: {old!r} not in {path}")
open(path, "w").write(text.replace(old, new, 1))
PY
}

# Each case: a file, a text in it, its replacement, and a fragment of the error the
# validation must print. One per kind of check.
SELF_TEST_CASES=(
    "Dockerfile|USER 65532:65532|USER root|non-root USER"
    "docker-compose.yml|stop_grace_period: 30s|stop_grace_period: half a minute|stop_grace_period"
    "docker-compose.yml|      LOOPDESK_HTTP__PORT: \"8082\"|      LOOPDESK_HTTP__PORT: \"8082\"
      LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS: \"30\"|compose service intervention-service: stop_grace_period 30s is not above the drain bound 30 s (LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS)"
    "docker-compose.yml|http://127.0.0.1:8081/readyz|http://127.0.0.1:8089/readyz|healthcheck does not GET http://127.0.0.1:8081/readyz"
    "docker-compose.yml|SERVICE: webhook-fanout|SERVICE: webhook-fan-out|build.args.SERVICE is not webhook-fanout"
    "deploy/kubernetes/base/ticket-service/deployment.yaml|containerPort: 8081|containerPort: \"8081\"|'8081' is not of type 'integer'"
    "deploy/kubernetes/base/webhook-fanout/deployment.yaml|readOnlyRootFilesystem: true|readOnlyRootFileSystem: true|'readOnlyRootFileSystem' was unexpected"
    "deploy/kubernetes/base/api-gateway/deployment.yaml|terminationGracePeriodSeconds: 45|terminationGracePeriodSeconds: 30|Deployment/api-gateway: terminationGracePeriodSeconds 30 is not above preStop 5 s + drain bound 20 s (the default)"
    "deploy/kubernetes/base/ticket-service/configmap.yaml|  LOOPDESK_HTTP__PORT: \"8081\"|  LOOPDESK_HTTP__PORT: \"8081\"
  LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS: \"40\"|Deployment/ticket-service: terminationGracePeriodSeconds 45 is not above preStop 5 s + drain bound 40 s (LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS)"
    "deploy/kubernetes/base/api-gateway/service.yaml|targetPort: http|targetPort: web|targetPort web is no port of Deployment/api-gateway"
    "deploy/kubernetes/base/epilog-dispatcher/hpa.yaml|name: epilog-dispatcher
  minReplicas|name: epilog-dispatchr
  minReplicas|targets {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'epilog-dispatchr'}"
    "deploy/kubernetes/base/intervention-service/deployment.yaml|name: loopdesk-postgres-app|name: loopdesk-pg-app|reads Secret loopdesk-pg-app, which nothing provides"
    "deploy/kubernetes/base/intervention-service/deployment.yaml|name: LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY|name: LOOPDESK_SECRETS__TOKEN_PRIVATE_KAY|container intervention-service: LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY is not set"
    "deploy/kubernetes/base/api-gateway/deployment.yaml|name: loopdesk-intervention-token-key|name: loopdesk-intervention-token-keys|reads ConfigMap loopdesk-intervention-token-keys, which nothing provides"
    "docker-compose.yml|      LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY:|      LOOPDESK_INTERVENTIONS__TOKEN_PUBLICKEY:|compose service api-gateway: LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY is not set"
    "deploy/kubernetes/base/infra/rabbitmq-cluster.yaml|replicas: 3|replicas: three|/spec/replicas: 'three' is not of type 'integer'"
    "deploy/kubernetes/base/infra/rabbitmq-cluster.yaml|  persistence:|  persistance:|'persistance' was unexpected"
    "deploy/kubernetes/base/infra/postgres-cluster.yaml|max_connections: \"400\"|max_connections: 400|400 is not of type 'string'"
    "deploy/kubernetes/base/infra/postgres-cluster.yaml|instances: 3|instance: 3|'instances' is a required property"
    "deploy/kubernetes/base/infra/postgres-cluster.yaml|      owner: app
|
|'owner' is a dependency of 'database'"
    "deploy/prometheus/alerts.yaml|for: 30m|for: half an hour|/spec/groups/0/rules/1/for"
    "deploy/kubernetes/kustomization.yaml|  - base/webhook-fanout|  - base/webhook-fanout
  - base/missing|base/missing"
)

self_test() {
    local work=$SCRATCH passed=0 failed=0 case file old new expected tree log
    tree=$work/tree
    mkdir -p "$tree"
    cp -r Dockerfile docker-compose.yml deploy "$tree/"

    if "$SELF" --tree "$tree" >"$work/pristine.log" 2>&1; then
        passed=$((passed + 1))
    else
        say "self-test: the unbroken copy does not validate:"
        cat "$work/pristine.log" >&2
        failed=$((failed + 1))
    fi

    for case in "${SELF_TEST_CASES[@]}"; do
        IFS='|' read -r -d '' file old new expected <<<"$case" || true
        expected=${expected%$'\n'}
        rm -rf "$tree" && mkdir -p "$tree"
        cp -r Dockerfile docker-compose.yml deploy "$tree/"
        mutate "$tree/$file" "$old" "$new"
        log=$work/case.log
        if "$SELF" --tree "$tree" >"$log" 2>&1; then
            say "self-test: NOT caught: $file: '${old%%$'\n'*}' -> '${new%%$'\n'*}'"
            failed=$((failed + 1))
        elif ! grep -qF -- "$expected" "$log"; then
            say "self-test: $file: failed, but without \"$expected\":"
            cat "$log" >&2
            failed=$((failed + 1))
        else
            passed=$((passed + 1))
        fi
    done
    printf 'validate-deploy self-test: %d passed, %d failed\n' "$passed" "$failed"
    ((failed == 0))
}

SELF=$REPO_ROOT/scripts/validate-deploy.sh
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

ensure_tools
case "${1:-}" in
    --self-test) self_test ;;
    # Internal: validate a copy (the self-test's broken trees).
    --tree) validate_tree "$2" ;;
    "") validate_tree "$REPO_ROOT" ;;
    *)
        say "usage: $0 [--self-test]"
        exit 2
        ;;
esac

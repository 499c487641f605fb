"""Offline checks of Loopdesk's deployment files, run by scripts/validate-deploy.sh.

    check.py manifests --k8s-version 1.33.0 --schemas deploy/schemas [--cross-references
                       --services services] RENDERED.yaml...
    check.py compose --services services COMPOSE.json
    check.py dockerfile Dockerfile

`manifests` validates each rendered resource: built-in kinds against Kubernetes' own
schemas (kubernetes-validate, strict: unknown fields are errors), the operators' kinds
against the JSON Schemas in deploy/schemas/; then checks that the resources fit together
(Service and PodDisruptionBudget selectors, HPA targets, ConfigMap and Secret references,
probes, security context, and a grace period longer than the drain each service is
configured with). `compose` checks the output of `docker-compose config --format json`
the same way. Every problem is printed; the exit status is 1 if any.
"""

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

# The five services, their ports, and the Secrets they need that no operator writes (an
# operator's, like <cluster>-app, is accepted when its cluster is in the same render).
SERVICES = {
    "api-gateway": 8080,
    "ticket-service": 8081,
    "intervention-service": 8082,
    "epilog-dispatcher": 8083,
    "webhook-fanout": 8084,
}
EXTERNAL_SECRETS = {"loopdesk-gateway-signing-keys", "loopdesk-webhook-encryption", "loopdesk-intervention-secrets"}
# ConfigMaps made per environment beside those Secrets (deploy/README.md), outside the render.
EXTERNAL_CONFIGMAPS = {"loopdesk-intervention-token-key"}
# Settings with no default that a service refuses to start without.
REQUIRED_SETTINGS = {
    "api-gateway": ("LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY",),
    "intervention-service": ("LOOPDESK_SECRETS__ENCRYPTION_KEY", "LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY"),
    "webhook-fanout": ("LOOPDESK_SECRETS__ENCRYPTION_KEY",),
}
# After SIGTERM a service drains within its bound, `[shutdown] drain_timeout_secs` (the
# default in services/<name>/config/default.toml, or this variable); Kubernetes and Compose
# must wait longer before SIGKILL, by this margin for the exit itself (traces flushed).
DRAIN_KEY = "LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS"
EXIT_MARGIN_SECONDS = 5


class Problems:
    """Collects problems so one run reports all of them."""

    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")

    def exit(self, what):
        for item in self.items:
            print(f"error: {item}", file=sys.stderr)
        if self.items:
            print(f"{what}: {len(self.items)} problem(s)", file=sys.stderr)
            return 1
        print(f"{what}: ok")
        return 0


def load_crd_schemas(directory):
    """Maps (apiVersion, kind) to a validator for every schema file in `directory`."""
    validators = {}
    for path in sorted(Path(directory).glob("*.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema["properties"]
        key = (props["apiVersion"]["const"], props["kind"]["const"])
        validators[key] = (path.name, jsonschema.Draft202012Validator(schema))
    return validators


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate_schemas(docs, version, crds, problems):
    for source, doc in docs:
        where = f"{source}: {name_of(doc)}"
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in crds:
            schema_name, validator = crds[key]
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                path = "/".join(str(p) for p in error.path)
                problems.add(where, f"{schema_name}: at /{path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            problems.add(where, f"Kubernetes {version} schema: at /{path}: {error.message}")
        except SchemaNotFoundError as error:
            problems.add(where, error.message + " (add a schema to deploy/schemas/ for an operator's kind)")


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def drain_defaults(services_dir, problems):
    """Maps each service to the drain bound compiled into it (its config/default.toml)."""
    defaults = {}
    for name in SERVICES:
        path = Path(services_dir) / name / "config" / "default.toml"
        try:
            defaults[name] = int(tomllib.loads(path.read_text())["shutdown"]["drain_timeout_secs"])
        except (OSError, KeyError, TypeError, ValueError) as error:
            problems.add(str(path), f"no readable [shutdown] drain_timeout_secs ({error!r})")
    return defaults


def drain_bound(env, default, where, problems):
    """(seconds, where they come from) of the drain a service with environment `env` gets:
    DRAIN_KEY if set, else its default. None when it cannot be told."""
    if DRAIN_KEY not in env:
        if env.get("LOOPDESK_CONFIG"):
            problems.add(where, f"LOOPDESK_CONFIG may set the drain bound, which this check cannot read: set {DRAIN_KEY}")
            return None
        return None if default is None else (default, "the default")
    value = str(env[DRAIN_KEY])
    # What the service accepts (ShutdownSettings::validate); anything else stops its start.
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 3600:
        problems.add(where, f"{DRAIN_KEY} {value!r} is not a whole number of seconds from 1 to 3600")
        return None
    return int(value), DRAIN_KEY


def pre_stop_seconds(container):
    """Seconds the container's preStop hook pauses (0 without one); None if unreadable."""
    hook = (container.get("lifecycle") or {}).get("preStop")
    if not hook:
        return 0
    if "sleep" in hook:
        seconds = (hook["sleep"] or {}).get("seconds")
        return seconds if isinstance(seconds, int) else None
    command = [str(part) for part in (hook.get("exec") or {}).get("command") or []]
    if len(command) >= 2 and command[-2].endswith("sleep") and command[-1].isdigit():
        return int(command[-1])
    return None


def check_deployment(doc, by_kind, operator_secrets, drain, problems):
    name = doc["metadata"]["name"]
    where = f"Deployment/{name}"
    template = doc["spec"]["template"]
    pod = template["spec"]
    pod_labels = template["metadata"].get("labels", {})
    if not matches(doc["spec"]["selector"].get("matchLabels"), pod_labels):
        problems.add(where, "selector.matchLabels does not select the pod template's labels")
    if "replicas" in doc["spec"]:
        problems.add(where, "sets replicas: the HorizontalPodAutoscaler owns the count")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
        problems.add(where, "pod securityContext.runAsNonRoot is not true")

    ports = {}
    for container in pod["containers"]:
        cwhere = f"{where} container {container['name']}"
        for port in container.get("ports", []):
            ports[port.get("name")] = port["containerPort"]
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if got != path:
                problems.add(cwhere, f"{probe} must GET {path} (has {got})")
        resources = container.get("resources") or {}
        for kind, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            for key in keys:
                if key not in (resources.get(kind) or {}):
                    problems.add(cwhere, f"resources.{kind}.{key} is not set")
        security = container.get("securityContext") or {}
        if security.get("readOnlyRootFilesystem") is not True:
            problems.add(cwhere, "securityContext.readOnlyRootFilesystem is not true")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.add(cwhere, "securityContext.allowPrivilegeEscalation is not false")
        config = {}
        for source in container.get("envFrom", []):
            ref = (source.get("configMapRef") or {}).get("name")
            if ref is not None:
                if ref not in by_kind["ConfigMap"]:
                    problems.add(cwhere, f"envFrom ConfigMap {ref} is not in the render")
                else:
                    config.update(by_kind["ConfigMap"][ref].get("data") or {})
        env = {e["name"]: e for e in container.get("env", [])}
        config.update({k: e["value"] for k, e in env.items() if "value" in e})
        for k, e in env.items():
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("key") in (by_kind["ConfigMap"].get(ref.get("name")) or {}).get("data", {}):
                config[k] = by_kind["ConfigMap"][ref["name"]]["data"][ref["key"]]
        for e in env.values():
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref["name"] not in operator_secrets | EXTERNAL_SECRETS:
                problems.add(cwhere, f"env {e['name']} reads Secret {ref['name']}, which nothing provides")
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("name") not in set(by_kind["ConfigMap"]) | EXTERNAL_CONFIGMAPS:
                problems.add(cwhere, f"env {e['name']} reads ConfigMap {ref.get('name')}, which nothing provides")
        for key in REQUIRED_SETTINGS.get(name, ()):
            if key not in config and key not in env:
                problems.add(cwhere, f"{key} is not set: the service does not start without it")
        for key in ("LOOPDESK_DATABASE__URL", "LOOPDESK_BROKER__URL", "LOOPDESK_HTTP__HOST", "LOOPDESK_HTTP__PORT"):
            if key not in config and key not in env:
                problems.add(cwhere, f"{key} is not set")
        if config.get("LOOPDESK_HTTP__PORT") not in (None, str(ports.get("http"))):
            problems.add(cwhere, f"LOOPDESK_HTTP__PORT {config['LOOPDESK_HTTP__PORT']} is not the http port {ports.get('http')}")
        # Kubernetes counts the grace period from the start of the preStop hook.
        pause = pre_stop_seconds(container)
        if DRAIN_KEY in env and DRAIN_KEY not in config:
            problems.add(cwhere, f"{DRAIN_KEY} comes from neither a value nor a ConfigMap in the render: its drain bound cannot be checked")
            bound = None
        else:
            bound = drain_bound(config, drain.get(name), cwhere, problems)
        if pause is None:
            problems.add(cwhere, "the preStop hook's pause cannot be read (exec `sleep N` or sleep.seconds)")
        elif bound is not None and grace <= pause + bound[0] + EXIT_MARGIN_SECONDS:
            problems.add(where, f"terminationGracePeriodSeconds {grace} is not above preStop {pause} s + drain bound "
                                f"{bound[0]} s ({bound[1]}) + {EXIT_MARGIN_SECONDS} s to exit: SIGKILL would cut the drain")

    services = [s for s in by_kind["Service"].values() if matches(s["spec"].get("selector"), pod_labels)]
    if not services:
        problems.add(where, "no Service selects its pods")
    for service in services:
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if target not in ports and target not in ports.values():
                problems.add(f"Service/{service['metadata']['name']}", f"targetPort {target} is no port of Deployment/{name}")
    if not any(matches(p["spec"].get("selector", {}).get("matchLabels"), pod_labels) for p in by_kind["PodDisruptionBudget"].values()):
        problems.add(where, "no PodDisruptionBudget selects its pods")
    hpas = [h for h in by_kind["HorizontalPodAutoscaler"].values()
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
    if not hpas:
        problems.add(where, "no HorizontalPodAutoscaler targets it")
    for hpa in hpas:
        if hpa["spec"].get("minReplicas", 1) < 2:
            problems.add(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", "minReplicas below 2: one pod is no redundancy")


def check_references(docs, drain, problems):
    by_kind = {k: {} for k in ("ConfigMap", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Deployment")}
    operator_secrets = set()
    for _, doc in docs:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        if kind in by_kind:
            by_kind[kind][name] = doc
        if (doc.get("apiVersion"), kind) == ("postgresql.cnpg.io/v1", "Cluster"):
            operator_secrets |= {f"{name}-app", f"{name}-superuser"}
        if (doc.get("apiVersion"), kind) == ("rabbitmq.com/v1beta1", "RabbitmqCluster"):
            operator_secrets.add(f"{name}-default-user")
    for name in SERVICES:
        if name not in by_kind["Deployment"]:
            problems.add(f"Deployment/{name}", "missing from the render")
    for hpa in by_kind["HorizontalPodAutoscaler"].values():
        target = hpa["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") not in by_kind["Deployment"]:
            problems.add(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", f"targets {target}, which is not in the render")
    for doc in by_kind["Deployment"].values():
        try:
            check_deployment(doc, by_kind, operator_secrets, drain, problems)
        except (KeyError, TypeError, AttributeError) as error:
            problems.add(f"Deployment/{doc['metadata']['name']}", f"malformed ({error!r})")


def cmd_manifests(args):
    problems = Problems()
    crds = load_crd_schemas(args.schemas)
    docs = []
    for path in args.files:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if doc is not None:
                docs.append((Path(path).name, doc))
    if not docs:
        problems.add("manifests", "nothing rendered")
    validate_schemas(docs, args.k8s_version, crds, problems)
    if args.cross_references:
        if args.services is None:
            problems.add("manifests", "--cross-references needs --services (the services' default settings)")
        else:
            check_references(docs, drain_defaults(args.services, problems), problems)
    return problems.exit(f"manifests ({len(docs)} resources, Kubernetes {args.k8s_version})")


def seconds(duration):
    """Seconds in a compose duration (`30s`, `1m30s`); None if unreadable."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", str(duration or ""))
    if not parts or not any(parts.groups()):
        return None
    h, m, s, ms = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def cmd_compose(args):
    problems = Problems()
    config = json.loads(Path(args.file).read_text())
    services = config.get("services", {})
    drain = drain_defaults(args.services, problems)
    for required in ("postgres", "rabbitmq"):
        if required not in services:
            problems.add("compose", f"service {required} is missing")
    for name, port in SERVICES.items():
        where = f"compose service {name}"
        service = services.get(name)
        if service is None:
            problems.add(where, "missing")
            continue
        if ((service.get("build") or {}).get("args") or {}).get("SERVICE") != name:
            problems.add(where, f"build.args.SERVICE is not {name}")
        env = service.get("environment") or {}
        for key in ("LOOPDESK_DATABASE__URL", "LOOPDESK_BROKER__URL", "LOOPDESK_BROKER__PREFIX"):
            if not env.get(key):
                problems.add(where, f"{key} is not set")
        for key in REQUIRED_SETTINGS.get(name, ()):
            if not env.get(key):
                problems.add(where, f"{key} is not set: the service does not start without it")
        if env.get("LOOPDESK_HTTP__HOST") != "0.0.0.0":
            problems.add(where, "LOOPDESK_HTTP__HOST is not 0.0.0.0: unreachable from outside the container")
        if env.get("LOOPDESK_HTTP__PORT") != str(port):
            problems.add(where, f"LOOPDESK_HTTP__PORT is not {port}")
        test = " ".join((service.get("healthcheck") or {}).get("test") or [])
        if f"127.0.0.1:{port}/readyz" not in test:
            problems.add(where, f"healthcheck does not GET http://127.0.0.1:{port}/readyz")
        depends = service.get("depends_on") or {}
        for infra in ("postgres", "rabbitmq"):
            if (depends.get(infra) or {}).get("condition") != "service_healthy":
                problems.add(where, f"does not wait for {infra} to be healthy")
        period = service.get("stop_grace_period", "10s")
        grace = seconds(period)
        bound = drain_bound(env, drain.get(name), where, problems)
        if grace is None:
            problems.add(where, f"stop_grace_period {period} is not a duration")
        elif bound is not None and grace <= bound[0] + EXIT_MARGIN_SECONDS:
            problems.add(where, f"stop_grace_period {period} is not above the drain bound {bound[0]} s ({bound[1]}) "
                                f"+ {EXIT_MARGIN_SECONDS} s to exit: SIGKILL would cut the drain")
    return problems.exit(f"compose ({len(services)} services)")


def cmd_dockerfile(args):
    problems = Problems()
    text = Path(args.file).read_text()
    # Continuation lines joined, comments dropped: one instruction per entry.
    lines = [l for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.lstrip().startswith("#")]
    stages = [i for i, l in enumerate(lines) if l.split()[0].upper() == "FROM"]
    final = lines[stages[-1]:] if stages else []
    instructions = [l.split(None, 1) for l in final]
    users = [i[1].strip() for i in instructions if i[0].upper() == "USER" and len(i) > 1]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.add(args.file, "the runtime stage does not switch to a non-root USER")
    if not any(i[0].upper() == "ARG" and i[1].split("=")[0].strip() == "SERVICE" for i in instructions if len(i) > 1):
        problems.add(args.file, "the runtime stage does not declare ARG SERVICE")
    entry = [i[1] for i in instructions if i[0].upper() == "ENTRYPOINT"]
    if not entry or not entry[-1].strip().startswith("["):
        problems.add(args.file, "ENTRYPOINT is missing or not in exec form (signals must reach the service)")
    elif "$" in entry[-1]:
        problems.add(args.file, "exec-form ENTRYPOINT cannot expand variables")
    if not any(i[0].upper() == "EXPOSE" for i in instructions):
        problems.add(args.file, "the runtime stage has no EXPOSE")
    if not re.search(r"cargo build --release --locked -p \"?\$SERVICE", text):
        problems.add(args.file, "the build stage does not `cargo build --release --locked -p $SERVICE`")
    return problems.exit(f"dockerfile ({len(stages)} stages)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    manifests = sub.add_parser("manifests")
    manifests.add_argument("--k8s-version", required=True)
    manifests.add_argument("--schemas", required=True)
    manifests.add_argument("--cross-references", action="store_true",
                           help="also check that the resources fit together (a whole render)")
    services_help = "the services' directory, whose config/default.toml hold the default drain bounds"
    manifests.add_argument("--services", help=services_help)
    manifests.add_argument("files", nargs="+")
    manifests.set_defaults(run=cmd_manifests)
    compose = sub.add_parser("compose")
    compose.add_argument("--services", required=True, help=services_help)
    compose.add_argument("file")
    compose.set_defaults(run=cmd_compose)
    dockerfile = sub.add_parser("dockerfile")
    dockerfile.add_argument("file")
    dockerfile.set_defaults(run=cmd_dockerfile)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

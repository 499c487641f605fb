# syntax=docker/dockerfile:1
#
# One image per Loopdesk service, from one Dockerfile:
#
#   docker build --build-arg SERVICE=ticket-service --build-arg PORT=8081 -t loopdesk/ticket-service .
#
# SERVICE is the Cargo package, which is also the binary's name: api-gateway,
# ticket-service, intervention-service, epilog-dispatcher, webhook-fanout. Needs BuildKit
# (the default builder of current Docker) for the cache mounts. deploy/README.md has more.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
# glibc + libgcc + CA certificates, no shell, user nonroot (65532). Same Debian release as
# the build image so the binary's glibc matches.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# A static busybox, only for its `wget`: the runtime image has no shell or HTTP client, and
# Docker Compose health checks run inside the container.
ARG PROBE_IMAGE=busybox:1.37-musl

FROM ${PROBE_IMAGE} AS probe

FROM ${RUST_IMAGE} AS build
ARG SERVICE
WORKDIR /app
COPY . .
# The registry and target directories are BuildKit cache mounts shared by every service's
# build, so dependencies compile once and a source change rebuilds only what it touches.
# The target directory is not part of the layer, hence the copy to /out in the same step.
RUN --mount=type=cache,id=loopdesk-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=loopdesk-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=loopdesk-target,target=/app/target \
    set -eu; \
    if [ -z "${SERVICE:-}" ]; then \
        echo "SERVICE is not set: docker build --build-arg SERVICE=<binary> ..." >&2; exit 1; \
    fi; \
    cargo build --release --locked -p "$SERVICE" --bin "$SERVICE"; \
    install -D -m 0755 "target/release/$SERVICE" /out/service

FROM ${RUNTIME_IMAGE}
ARG SERVICE
# The port the service listens on by default (documentation: EXPOSE publishes nothing).
ARG PORT=8080
LABEL org.opencontainers.image.title="loopdesk-${SERVICE}" \
      org.opencontainers.image.description="Loopdesk ${SERVICE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=probe /bin/busybox /usr/local/bin/busybox
# A fixed name, so ENTRYPOINT needs no build argument (exec form does not expand them).
COPY --from=build /out/service /usr/local/bin/service
# In a container the service must listen beyond loopback; logs go to stdout as JSON.
ENV LOOPDESK_HTTP__HOST=0.0.0.0 \
    LOOPDESK_TELEMETRY__LOG_FORMAT=json
USER 65532:65532
EXPOSE ${PORT}
# SIGTERM (the default stop signal) makes a service drain before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/service"]

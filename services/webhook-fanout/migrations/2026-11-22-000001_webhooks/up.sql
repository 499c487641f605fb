CREATE TABLE endpoints (
    id                          text PRIMARY KEY,
    tenant                      text NOT NULL,
    env                         text NOT NULL CHECK (env IN ('test', 'live')),
    url                         text NOT NULL,
    description                 text,
    event_types                 text[] NOT NULL,
    payload_style               text NOT NULL CHECK (payload_style IN ('full', 'thin')),
    headers                     jsonb NOT NULL DEFAULT '{}',
    enabled                     boolean NOT NULL DEFAULT true,
    disabled_reason             text,
    -- AES-256-GCM: 12-byte nonce followed by the ciphertext of `whsec_...`
    secret                      bytea NOT NULL,
    previous_secret             bytea,
    previous_secret_expires_at  timestamptz,
    -- set by the first failed attempt after a success; cleared by a success
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL
);
CREATE INDEX endpoints_scope ON endpoints (tenant, env, id DESC);

-- Received ticket.* events: fan-out source and the catch-up listing.
CREATE TABLE events (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    env         text NOT NULL,
    type        text NOT NULL,
    sequence    bigint NOT NULL,
    ticket_id   text,
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    traceparent text,
    -- the event exactly as published: what `full` endpoints receive, byte for byte
    body        text NOT NULL
);
CREATE INDEX events_scope ON events (tenant, env, id);
CREATE INDEX events_received ON events (received_at);

CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    endpoint_id     text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tenant          text NOT NULL,
    env             text NOT NULL,
    event_type      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- lease of the instance sending the current attempt
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id DESC);

CREATE TABLE delivery_attempts (
    id                bigserial PRIMARY KEY,
    delivery_id       text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at      timestamptz NOT NULL,
    succeeded         boolean NOT NULL,
    status_code       integer,
    latency_ms        bigint NOT NULL,
    error             text,
    refused_reason    text,
    response_excerpt  text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

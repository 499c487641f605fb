-- Owned by loopdesk-storage: created in every service's own schema (via search_path).

CREATE TABLE outbox (
    id             bigserial   PRIMARY KEY,
    message_id     text        NOT NULL,
    route_kind     text        NOT NULL,
    routing_key    text        NOT NULL,
    kind           text        NOT NULL,
    correlation_id text,
    reply_to       text,
    -- The envelope's own timestamp, kept as the producer set it.
    occurred_at    timestamptz NOT NULL,
    tenant         text        NOT NULL,
    env            text        NOT NULL,
    schema_version bigint      NOT NULL,
    traceparent    text,
    tracestate     text,
    -- bytea, not jsonb: the body is published byte for byte as it was enqueued.
    body           bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_message_id_key UNIQUE (message_id),
    CONSTRAINT outbox_route_kind_check CHECK (route_kind IN ('command', 'event', 'reply')),
    CONSTRAINT outbox_schema_version_check CHECK (schema_version BETWEEN 0 AND 4294967295)
);

CREATE TABLE inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inbox_pkey PRIMARY KEY (consumer, message_id)
);

-- Retention deletes by age.
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);

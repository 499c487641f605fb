-- Intervention definitions (seed 000 §3.1), named by `name` within a tenant and env.
CREATE TABLE interventions (
    tenant text NOT NULL,
    env text NOT NULL CHECK (env IN ('test', 'live')),
    name text NOT NULL,
    title text NOT NULL,
    queue_name text NOT NULL,
    notify_inbox_managers boolean NOT NULL DEFAULT false,
    fma_inbox_managers boolean NOT NULL DEFAULT false,
    remote_enabled boolean NOT NULL DEFAULT false,
    remote_name text,
    remote_epilog_url text,
    -- AES-256-GCM: 12-byte nonce || ciphertext+tag; never the plaintext.
    remote_bearer_token_enc bytea,
    remote_timeout_seconds integer NOT NULL DEFAULT 30,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT interventions_pkey PRIMARY KEY (tenant, env, name)
);

-- UI fields (§3.2). Every change rewrites a definition's list, so ordinals stay 0..n.
CREATE TABLE intervention_fields (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    env text NOT NULL,
    intervention text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('text', 'checkbox', 'label', 'hr')),
    name text,
    label text,
    width_px integer,
    required boolean NOT NULL DEFAULT false,
    ordinal integer NOT NULL,
    FOREIGN KEY (tenant, env, intervention) REFERENCES interventions (tenant, env, name)
        ON DELETE CASCADE
);
CREATE INDEX intervention_fields_by_definition
    ON intervention_fields (tenant, env, intervention, ordinal);

-- Templates `{name}.private|public|final` (§7).
CREATE TABLE intervention_templates (
    tenant text NOT NULL,
    env text NOT NULL,
    intervention text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('private', 'public', 'final')),
    body text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, env, intervention, kind),
    FOREIGN KEY (tenant, env, intervention) REFERENCES interventions (tenant, env, name)
        ON DELETE CASCADE
);

-- Intervention instances on tickets (§3.3).
CREATE TABLE intervention_payloads (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    env text NOT NULL,
    ticket_id text NOT NULL,
    intervention text NOT NULL,
    uid text NOT NULL,
    accepted boolean NOT NULL DEFAULT false,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    accepted_at timestamptz,
    FOREIGN KEY (tenant, env, intervention) REFERENCES interventions (tenant, env, name)
);
-- The panel: a ticket's unaccepted payloads.
CREATE INDEX intervention_payloads_open_by_ticket
    ON intervention_payloads (tenant, env, ticket_id) WHERE NOT accepted;
-- Resends: the latest payload of a uid.
CREATE INDEX intervention_payloads_by_uid
    ON intervention_payloads (tenant, env, intervention, uid, created_at DESC);

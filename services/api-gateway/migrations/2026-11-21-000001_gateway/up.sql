-- Idempotency records: one per (tenant, env, key). A row without response_status is
-- in flight; locked_until says until when its first attempt owns it.
CREATE TABLE idempotency_keys (
    tenant            text NOT NULL,
    env               text NOT NULL CHECK (env IN ('test', 'live')),
    key               text NOT NULL,
    fingerprint       text NOT NULL,
    method            text NOT NULL,
    path              text NOT NULL,
    -- ids assigned on first execution, reused if a stalled attempt is taken over, so the
    -- owner sees the same command (and dedupes it) rather than a second one
    resource_id       text NOT NULL,
    message_id        text NOT NULL,
    locked_until      timestamptz,
    response_status   integer,
    response_body     text,
    response_location text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    PRIMARY KEY (tenant, env, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- API keys minted through the API (never the token itself) and revocations of any key.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    sub         text NOT NULL,
    abilities   text[] NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_scope ON api_keys (tenant, env, id DESC);
CREATE INDEX api_keys_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE tickets (
    id              text PRIMARY KEY,
    tenant          text NOT NULL,
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    subject         text NOT NULL,
    description     text NOT NULL,
    requester_email text NOT NULL,
    requester_name  text,
    status          text NOT NULL CHECK (status IN ('new', 'open', 'pending', 'solved', 'closed')),
    priority        text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    queue           text NOT NULL,
    tags            text[] NOT NULL DEFAULT '{}',
    source          text NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}',
    version         bigint NOT NULL DEFAULT 1,
    -- last ticket.* event sequence number handed out for this ticket
    event_sequence  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Listing is always scoped and newest first; ids are ULIDs, so id order is time order.
CREATE INDEX tickets_scope_id ON tickets (tenant, env, id DESC);
CREATE INDEX tickets_scope_status ON tickets (tenant, env, status, id DESC);
CREATE INDEX tickets_scope_requester ON tickets (tenant, env, requester_email, id DESC);
CREATE INDEX tickets_tags ON tickets USING gin (tags);

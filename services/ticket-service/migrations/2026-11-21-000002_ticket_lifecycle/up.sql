-- Assignment, lifecycle timestamps, SLA targets and soft delete.
ALTER TABLE tickets
    ADD COLUMN assignee                   text,
    ADD COLUMN due_at                     timestamptz,
    ADD COLUMN follow_up_of               text,
    ADD COLUMN solved_at                  timestamptz,
    ADD COLUMN closed_at                  timestamptz,
    ADD COLUMN deleted_at                 timestamptz,
    ADD COLUMN first_response_due_at      timestamptz,
    ADD COLUMN resolution_due_at          timestamptz,
    ADD COLUMN first_responded_at         timestamptz,
    ADD COLUMN first_response_breached_at timestamptz,
    ADD COLUMN resolution_breached_at     timestamptz,
    ADD COLUMN sla_paused_at              timestamptz,
    -- time spent pending before the current pause; targets are shifted by it
    ADD COLUMN sla_paused_ms              bigint NOT NULL DEFAULT 0,
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('english', subject || ' ' || description)
    ) STORED;

CREATE INDEX tickets_search ON tickets USING gin (search);
CREATE INDEX tickets_scope_assignee ON tickets (tenant, env, assignee, id DESC);
-- The SLA checker's scans: only tickets with a target still open.
CREATE INDEX tickets_first_response_due ON tickets (first_response_due_at)
    WHERE first_response_breached_at IS NULL AND first_responded_at IS NULL;
CREATE INDEX tickets_resolution_due ON tickets (resolution_due_at)
    WHERE resolution_breached_at IS NULL AND solved_at IS NULL;
CREATE INDEX tickets_solved ON tickets (solved_at) WHERE status = 'solved';

-- The thread. Append-only: a trigger refuses UPDATE and DELETE.
CREATE TABLE responses (
    id          text PRIMARY KEY,
    ticket_id   text NOT NULL REFERENCES tickets (id),
    tenant      text NOT NULL,
    env         text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('reply', 'note', 'message', 'system')),
    public      boolean NOT NULL,
    author      jsonb NOT NULL,
    body        text NOT NULL,
    attachments jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    search      tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
CREATE INDEX responses_ticket ON responses (ticket_id, id);
CREATE INDEX responses_search ON responses USING gin (search);

CREATE TABLE audit_entries (
    id          text PRIMARY KEY,
    response_id text NOT NULL REFERENCES responses (id),
    ticket_id   text NOT NULL REFERENCES tickets (id),
    body        text NOT NULL,
    actor       jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX audit_entries_response ON audit_entries (response_id, id);

CREATE FUNCTION refuse_thread_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket threads are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER responses_append_only BEFORE UPDATE OR DELETE ON responses
    FOR EACH ROW EXECUTE FUNCTION refuse_thread_rewrite();
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_thread_rewrite();

CREATE TABLE status_history (
    id         bigserial PRIMARY KEY,
    ticket_id  text NOT NULL REFERENCES tickets (id),
    from_status text,
    to_status  text NOT NULL,
    reason     text,
    actor      jsonb NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX status_history_ticket ON status_history (ticket_id, id);

CREATE TABLE sla_policies (
    tenant                 text NOT NULL,
    env                    text NOT NULL,
    priority               text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    first_response_minutes integer NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes     integer NOT NULL CHECK (resolution_minutes > 0),
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant, env, priority)
);

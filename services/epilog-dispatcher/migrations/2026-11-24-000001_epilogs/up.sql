-- One job per submitted intervention payload; the remote bearer token is never stored
-- here (it is read from intervention-service at send time).
CREATE TABLE epilog_jobs (
    id                  text PRIMARY KEY,
    tenant              text NOT NULL,
    env                 text NOT NULL,
    submission_id       text NOT NULL UNIQUE,
    status              text NOT NULL,
    payload_id          text NOT NULL,
    ticket_id           text NOT NULL,
    response_id         text NOT NULL,
    intervention        text NOT NULL,
    uid                 text NOT NULL,
    action              text NOT NULL,
    data                jsonb NOT NULL,
    epilog_url          text,
    timeout_seconds     integer NOT NULL,
    traceparent         text,
    -- attempts ever made, and how many of them came before the current round (a staff
    -- retry starts a new round of the schedule)
    attempts            integer NOT NULL DEFAULT 0,
    round_start         integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    locked_until        timestamptz,
    last_error          text,
    rejection           text,
    final_reply         jsonb,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX epilog_jobs_due ON epilog_jobs (next_attempt_at) WHERE status = 'pending';
CREATE INDEX epilog_jobs_scope ON epilog_jobs (tenant, env, id DESC);

CREATE TABLE epilog_attempts (
    id                bigserial PRIMARY KEY,
    job_id            text NOT NULL REFERENCES epilog_jobs (id) ON DELETE CASCADE,
    attempted_at      timestamptz NOT NULL,
    status_code       integer,
    latency_ms        bigint NOT NULL,
    error             text,
    refused_reason    text,
    response_excerpt  text
);
CREATE INDEX epilog_attempts_job ON epilog_attempts (job_id, id);

DROP INDEX tickets_first_response_open;
DROP INDEX tickets_resolution_open;

CREATE INDEX tickets_first_response_due ON tickets (first_response_due_at)
    WHERE first_response_breached_at IS NULL AND first_responded_at IS NULL;
CREATE INDEX tickets_resolution_due ON tickets (resolution_due_at)
    WHERE resolution_breached_at IS NULL AND solved_at IS NULL;

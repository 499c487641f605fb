-- The SLA sweeps look for tickets still open (not solved, not closed, not deleted, clock
-- running) whose target has passed and has not been missed yet. The first indexes did
-- not match what the sweeps ask: the resolution one required `solved_at IS NULL`, which
-- a reopened ticket does not meet, so the planner could not use it and every sweep read
-- the whole table. These index exactly the tickets a sweep may return; the sweeps spell
-- the same conditions as literals so the planner can prove the match.
DROP INDEX tickets_first_response_due;
DROP INDEX tickets_resolution_due;

CREATE INDEX tickets_first_response_open ON tickets (first_response_due_at)
    WHERE first_response_due_at IS NOT NULL
      AND first_response_breached_at IS NULL AND first_responded_at IS NULL
      AND deleted_at IS NULL AND sla_paused_at IS NULL
      AND status NOT IN ('solved', 'closed');

CREATE INDEX tickets_resolution_open ON tickets (resolution_due_at)
    WHERE resolution_due_at IS NOT NULL
      AND resolution_breached_at IS NULL
      AND deleted_at IS NULL AND sla_paused_at IS NULL
      AND status NOT IN ('solved', 'closed');

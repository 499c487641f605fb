-- The status of each ticket an intervention created, as the ticket service's events
-- report it: resends reopen a solved ticket and follow up on a closed one. Services
-- never read each other's tables, so this is our own copy. `sequence` is the ticket's
-- event sequence, so an older event never overwrites a newer status.
CREATE TABLE intervention_tickets (
    ticket_id text PRIMARY KEY,
    tenant text NOT NULL,
    env text NOT NULL,
    status text NOT NULL,
    sequence bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL
);

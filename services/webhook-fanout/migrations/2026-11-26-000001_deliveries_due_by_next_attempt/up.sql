-- The claim finds due deliveries by when they are due. A pending delivery, and only a
-- pending one, has a next attempt time (every change of status sets or clears it), so
-- the index keys on that alone: a status in its predicate let the planner pick it for
-- any `status = 'pending'` lookup and scan every pending row to find a few by id, and
-- tied the estimate of the claim's range to the statistics of `status`, which lag far
-- behind a backlog that grows in seconds.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

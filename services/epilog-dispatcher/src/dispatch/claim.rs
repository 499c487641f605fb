//! Claiming due jobs: a lease (`locked_until`) taken in one statement with
//! `FOR UPDATE SKIP LOCKED`, so concurrent instances split the work and never call the
//! remote for the same attempt twice at once. The attempt counter is the fence:
//! recording checks it.

use std::time::Duration;

use diesel::{
    prelude::*,
    sql_query,
    sql_types::{BigInt, Double, Text},
};
use diesel_async::RunQueryDsl;
use loopdesk_storage::Pool;

use crate::{
    schema::epilog_jobs,
    store::{JobRow, StoreError},
};

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
}

// The lease covers the definition's timeout (at most 120 s) plus the settings lookup and
// recording ($2), whatever the remote's timeout is now.
const CLAIM: &str = "
WITH due AS (
    SELECT id FROM epilog_jobs
    WHERE status = 'pending'
      AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE epilog_jobs j
SET locked_until = now() + make_interval(secs => 120 + $2),
    attempts = j.attempts + 1,
    updated_at = now()
FROM due
WHERE j.id = due.id
RETURNING j.id";

/// Claims up to `limit` due jobs (their attempt counters already counting this attempt).
pub async fn claim(pool: &Pool, limit: usize, margin: Duration) -> Result<Vec<JobRow>, StoreError> {
    let mut conn = loopdesk_storage::connection(pool).await?;
    let claimed: Vec<Claimed> = sql_query(CLAIM)
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind::<Double, _>(margin.as_secs_f64())
        .load(&mut conn)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = claimed.into_iter().map(|c| c.id).collect();
    Ok(epilog_jobs::table
        .filter(epilog_jobs::id.eq_any(ids))
        .select(JobRow::as_select())
        .load(&mut conn)
        .await?)
}

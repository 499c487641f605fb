//! The two writes every keyed request makes, in batches (group commit): the claim of a
//! fresh key and the record of its answer. Requests arriving together share one
//! statement and one commit; what a batch cannot settle goes back to its callers, which
//! write it on their own as before.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{Array, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use loopdesk_storage::{Conn, GroupCommit, Pool};

use crate::schema::idempotency_keys as keys;

/// Most items one statement writes.
const MAX_BATCH: usize = 256;

/// Rows are inserted in key order, so two gateways claiming overlapping keys wait for
/// each other in the same order instead of deadlocking.
const INSERT_KEYS: &str = "
INSERT INTO idempotency_keys
    (tenant, env, key, fingerprint, method, path, resource_id, message_id, locked_until)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::timestamptz[])
    AS u(tenant, env, key, fingerprint, method, path, resource_id, message_id, locked_until)
ORDER BY tenant, env, key
ON CONFLICT DO NOTHING
RETURNING tenant, env, key";

const RECORD_ANSWERS: &str = "
UPDATE idempotency_keys k
SET response_status = u.status, response_body = u.body, response_location = u.location,
    locked_until = NULL, completed_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[])
    AS u(tenant, env, key, status, body, location)
WHERE k.tenant = u.tenant AND k.env = u.env AND k.key = u.key";

/// A key claimed for the first time: its record as it starts.
#[derive(Debug, Clone)]
pub(super) struct NewKey {
    pub(super) tenant: String,
    pub(super) env: String,
    pub(super) key: String,
    pub(super) fingerprint: String,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) resource_id: String,
    pub(super) message_id: String,
    pub(super) locked_until: DateTime<Utc>,
}

/// The answer of an executed request, to record on its key.
#[derive(Debug, Clone)]
pub(super) struct RecordedAnswer {
    pub(super) tenant: String,
    pub(super) env: String,
    pub(super) key: String,
    pub(super) status: i32,
    pub(super) body: String,
    pub(super) location: Option<String>,
}

/// What a batch did for one of its items.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written<T> {
    /// Committed, with what the statement said of this item.
    Done(T),
    /// The database is unreachable: nothing was written.
    Unavailable,
    /// The batch failed for another reason and wrote nothing: write the item on its own.
    Failed,
}

/// Claims fresh keys in batches over `pool`, whose commits must be durable: a claim
/// forgotten by a crash would let a retry execute the request a second time. Each item
/// learns whether its row was inserted; two items with the same key in one batch: the
/// first one submitted wins.
pub(super) fn claim_writer(pool: Pool) -> GroupCommit<NewKey, Written<bool>> {
    GroupCommit::start(
        "idempotency claims",
        MAX_BATCH,
        move |items: Vec<NewKey>| {
            let pool = pool.clone();
            async move {
                match insert_keys(&pool, &items).await {
                    Ok(inserted) => inserted.into_iter().map(Written::Done).collect(),
                    Err(e) => failed(&e, items.len(), "claims"),
                }
            }
        },
    )
}

/// Records answers in batches over `pool`, which may commit without waiting for the disk
/// (`Durability::Relaxed`), but only for answers to commands sent to their owner (see
/// `Idempotency::complete`). Such an answer forgotten by a crash leaves its key claimed
/// and unanswered: a retry gets 409 in use until the lock expires, then takes the key
/// over and re-sends the same command under the same message id, which the owner
/// recognises and answers with the same resource. It costs a wait, never a second effect.
pub(super) fn answer_writer(pool: Pool) -> GroupCommit<RecordedAnswer, Written<()>> {
    GroupCommit::start(
        "idempotency answers",
        MAX_BATCH,
        move |items: Vec<RecordedAnswer>| {
            let pool = pool.clone();
            async move {
                match record_answers(&pool, &items).await {
                    Ok(()) => items.iter().map(|_| Written::Done(())).collect(),
                    Err(e) => failed(&e, items.len(), "answers"),
                }
            }
        },
    )
}

/// The same result for every item of a failed batch.
fn failed<T>(e: &diesel::result::Error, items: usize, what: &str) -> Vec<Written<T>> {
    let unavailable = loopdesk_storage::is_unavailable(e);
    if !unavailable {
        tracing::warn!(error = %e, items, "a batch of idempotency {what} failed; writing them one by one");
    }
    std::iter::repeat_with(|| {
        if unavailable {
            Written::Unavailable
        } else {
            Written::Failed
        }
    })
    .take(items)
    .collect()
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    tenant: String,
    #[diesel(sql_type = Text)]
    env: String,
    #[diesel(sql_type = Text)]
    key: String,
}

/// Inserts the keys in one statement; true for each item whose row it inserted.
async fn insert_keys(pool: &Pool, items: &[NewKey]) -> QueryResult<Vec<bool>> {
    // Only the first item of each key goes into the statement: its row tells nothing of
    // which item inserted it, and the later ones lose to the first anyway.
    let mut seen = HashSet::new();
    let first: Vec<bool> = items
        .iter()
        .map(|k| seen.insert((&k.tenant, &k.env, &k.key)))
        .collect();
    let sent: Vec<&NewKey> = items
        .iter()
        .zip(&first)
        .filter_map(|(k, first)| first.then_some(k))
        .collect();
    let column = |f: fn(&NewKey) -> &str| sent.iter().map(|k| f(k)).collect::<Vec<_>>();
    let mut conn = loopdesk_storage::connection(pool).await?;
    let rows: Vec<KeyRow> = sql_query(INSERT_KEYS)
        .bind::<Array<Text>, _>(column(|k| &k.tenant))
        .bind::<Array<Text>, _>(column(|k| &k.env))
        .bind::<Array<Text>, _>(column(|k| &k.key))
        .bind::<Array<Text>, _>(column(|k| &k.fingerprint))
        .bind::<Array<Text>, _>(column(|k| &k.method))
        .bind::<Array<Text>, _>(column(|k| &k.path))
        .bind::<Array<Text>, _>(column(|k| &k.resource_id))
        .bind::<Array<Text>, _>(column(|k| &k.message_id))
        .bind::<Array<Timestamptz>, _>(sent.iter().map(|k| k.locked_until).collect::<Vec<_>>())
        .load(&mut conn)
        .await?;
    let inserted: HashSet<(String, String, String)> =
        rows.into_iter().map(|r| (r.tenant, r.env, r.key)).collect();
    Ok(items
        .iter()
        .zip(first)
        .map(|(k, first)| {
            first && inserted.contains(&(k.tenant.clone(), k.env.clone(), k.key.clone()))
        })
        .collect())
}

/// Records the answers in one statement.
async fn record_answers(pool: &Pool, items: &[RecordedAnswer]) -> QueryResult<()> {
    let column = |f: fn(&RecordedAnswer) -> &str| items.iter().map(f).collect::<Vec<_>>();
    let mut conn = loopdesk_storage::connection(pool).await?;
    sql_query(RECORD_ANSWERS)
        .bind::<Array<Text>, _>(column(|a| &a.tenant))
        .bind::<Array<Text>, _>(column(|a| &a.env))
        .bind::<Array<Text>, _>(column(|a| &a.key))
        .bind::<Array<Integer>, _>(items.iter().map(|a| a.status).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(column(|a| &a.body))
        .bind::<Array<Nullable<Text>>, _>(
            items
                .iter()
                .map(|a| a.location.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Claims one key on its own (when its batch failed); true when its row was inserted.
pub(super) async fn insert_key(conn: &mut Conn, new: &NewKey) -> QueryResult<bool> {
    let inserted = diesel::insert_into(keys::table)
        .values((
            keys::tenant.eq(&new.tenant),
            keys::env.eq(&new.env),
            keys::key.eq(&new.key),
            keys::fingerprint.eq(&new.fingerprint),
            keys::method.eq(&new.method),
            keys::path.eq(&new.path),
            keys::resource_id.eq(&new.resource_id),
            keys::message_id.eq(&new.message_id),
            keys::locked_until.eq(new.locked_until),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Records one answer on its own, with the commit durability of `conn`.
pub(super) async fn record_answer(conn: &mut Conn, answer: &RecordedAnswer) -> QueryResult<()> {
    diesel::update(keys::table.find((&answer.tenant, &answer.env, &answer.key)))
        .set((
            keys::response_status.eq(answer.status),
            keys::response_body.eq(&answer.body),
            keys::response_location.eq(&answer.location),
            keys::locked_until.eq(None::<DateTime<Utc>>),
            keys::completed_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    #[test]
    fn an_unreachable_database_fails_the_whole_batch_and_anything_else_sends_it_one_by_one() {
        let closed = Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("connection closed".to_owned()),
        );
        let deadlock = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("deadlock detected".to_owned()),
        );
        assert_eq!(
            failed::<bool>(&closed, 3, "claims"),
            [
                Written::Unavailable,
                Written::Unavailable,
                Written::Unavailable
            ]
        );
        assert_eq!(
            failed::<()>(&deadlock, 2, "answers"),
            [Written::Failed, Written::Failed]
        );
    }
}

//! Idempotency keys (DESIGN.md §4): the first request with a key executes and its answer
//! is recorded; the same key with the same body gets that answer again, with another
//! body a 409, and while the first is still running a 409 with `Retry-After`.

use std::time::Duration;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::Scope;
use loopdesk_storage::{DatabaseSettings, Durability, GroupCommit, Pool, StorageError};
use loopdesk_web::{Problem, problem::PROBLEM_JSON};
use sha2::{Digest, Sha256};

use self::batches::{NewKey, RecordedAnswer, Written};
use crate::schema::idempotency_keys as keys;

mod batches;

/// Header carrying the key.
pub const HEADER: &str = "Idempotency-Key";
/// Header marking a replayed answer.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// The idempotency store.
pub struct Idempotency {
    pool: Pool,
    claims: GroupCommit<NewKey, Written<bool>>,
    answers: GroupCommit<RecordedAnswer, Written<()>>,
    lock_timeout: Duration,
    retention: chrono::Duration,
}

/// A request identified by its key, and what it asks for.
pub struct KeyedRequest {
    scope: Scope,
    key: String,
    method: String,
    path: String,
    fingerprint: String,
}

/// The answer of an executed request, as recorded for replays.
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (a problem document for 4xx).
    pub body: String,
    /// `Location`, for created or accepted resources.
    pub location: Option<String>,
    /// What the first caller sees instead of `body`, when it differs.
    shown_once: Option<String>,
}

impl Answer {
    /// A JSON answer.
    pub fn json<T: serde::Serialize>(
        status: StatusCode,
        body: &T,
        location: Option<String>,
    ) -> Self {
        Self {
            status,
            // Serializing our own plain types cannot fail.
            body: serde_json::to_string(body).unwrap_or_default(),
            location,
            shown_once: None,
        }
    }

    /// A problem (a refusal) as a recorded answer, so it replays.
    pub fn problem(problem: &Problem) -> Self {
        Self::json(problem.status(), problem, None)
    }

    /// Answers the first caller with `shown` while recording `self` for replays: for
    /// bodies holding a secret that must be shown exactly once.
    pub fn showing_once(mut self, shown: String) -> Self {
        self.shown_once = Some(shown);
        self
    }

    fn into_response(self) -> HttpResponse {
        let mut response = respond(self.status, self.location);
        response.body(self.shown_once.unwrap_or(self.body))
    }
}

/// What to do with a keyed request.
enum Begin {
    /// Execute it; the claim holds the ids to use.
    Execute(Claim),
    /// Answer with what the first execution answered.
    Replay(HttpResponse),
}

/// Ownership of a key by the executing request, and the ids it must use, so a takeover
/// of a stalled attempt re-sends the same command rather than a new one.
#[derive(Debug, Clone)]
pub struct Claim {
    tenant: String,
    env: String,
    key: String,
    /// Id of the resource being created.
    pub resource_id: String,
    /// Id of the command message; empty when the request sends none.
    pub message_id: String,
}

impl Claim {
    /// True when the request's effect is a command to its owner, which the owner applies
    /// once per message id.
    fn sends_command(&self) -> bool {
        !self.message_id.is_empty()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = keys, check_for_backend(diesel::pg::Pg))]
struct Record {
    fingerprint: String,
    resource_id: String,
    message_id: String,
    locked_until: Option<chrono::DateTime<Utc>>,
    response_status: Option<i32>,
    response_body: Option<String>,
    response_location: Option<String>,
}

impl KeyedRequest {
    /// Reads the key from the request; a create without one is refused.
    pub fn from_request(req: &HttpRequest, scope: Scope, raw_body: &[u8]) -> Result<Self, Problem> {
        let key = req
            .headers()
            .get(HEADER)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "idempotency_key_missing",
                    "Idempotency key required",
                    format!("send an `{HEADER}` header (e.g. a UUID) so this request can be retried safely"),
                )
            })?
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "idempotency_key_invalid",
                    "Invalid idempotency key",
                    format!("`{HEADER}` must be 1 to 255 visible ASCII characters"),
                )
            })?
            .to_owned();
        let method = req.method().as_str().to_owned();
        let path = req.path().to_owned();
        let fingerprint = fingerprint(&method, &path, raw_body);
        Ok(Self {
            scope,
            key,
            method,
            path,
            fingerprint,
        })
    }
}

/// SHA-256 over the method, the path and the body with object keys sorted, so the same
/// JSON sent with another key order or spacing is the same request.
fn fingerprint(method: &str, path: &str, raw_body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(raw_body)
        .map(|v| canonical_json(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(raw_body).into_owned());
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(canonical.as_bytes());
    hex::encode(hash.finalize())
}

fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(k.as_str()),
                        canonical_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", inner.join(","))
        }
        scalar => scalar.to_string(),
    }
}

impl Idempotency {
    /// A store over the gateway's pool. Its answers go through a pool of its own that
    /// commits without waiting for the disk (see `complete`), connecting as `database`
    /// says. Starts its batch writers on the current runtime.
    pub fn new(
        pool: Pool,
        database: &DatabaseSettings,
        lock_timeout: Duration,
        retention: chrono::Duration,
    ) -> Result<Self, StorageError> {
        // One writer task uses it, one connection at a time.
        let answers_pool = loopdesk_storage::build_pool_with(
            &DatabaseSettings {
                max_connections: 1,
                ..database.clone()
            },
            Durability::Relaxed,
        )?;
        Ok(Self {
            claims: batches::claim_writer(pool.clone()),
            answers: batches::answer_writer(answers_pool),
            pool,
            lock_timeout,
            retention,
        })
    }

    /// Claims the key for this request, or says how to answer without executing.
    /// `new_ids` supplies (resource id, message id) for a first execution.
    async fn begin(
        &self,
        req: &KeyedRequest,
        new_ids: impl FnOnce() -> (String, String),
    ) -> Result<Begin, Problem> {
        let (resource_id, message_id) = new_ids();
        let lock_until = Utc::now() + self.lock_timeout;
        let fresh = NewKey {
            tenant: req.scope.tenant.to_string(),
            env: req.scope.env.as_str().to_owned(),
            key: req.key.clone(),
            fingerprint: req.fingerprint.clone(),
            method: req.method.clone(),
            path: req.path.clone(),
            resource_id,
            message_id,
            locked_until: lock_until,
        };
        let inserted = match self.claims.submit(fresh.clone()).await {
            Ok(Written::Done(inserted)) => inserted,
            Ok(Written::Unavailable) => return Err(unavailable()),
            Ok(Written::Failed) | Err(_) => {
                let mut conn = self.pool.get().await.map_err(|_| unavailable())?;
                batches::insert_key(&mut conn, &fresh)
                    .await
                    .map_err(db_problem)?
            }
        };
        let NewKey {
            tenant,
            env,
            key,
            resource_id,
            message_id,
            ..
        } = fresh;
        let claim = |resource_id, message_id| Claim {
            tenant: tenant.clone(),
            env: env.clone(),
            key: key.clone(),
            resource_id,
            message_id,
        };
        if inserted {
            return Ok(Begin::Execute(claim(resource_id, message_id)));
        }

        let mut conn = self.pool.get().await.map_err(|_| unavailable())?;
        let record: Record = keys::table
            .find((&tenant, &env, &key))
            .select(Record::as_select())
            .first(&mut conn)
            .await
            .map_err(db_problem)?;
        if record.fingerprint != req.fingerprint {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "Idempotency key reused",
                format!(
                    "this `{HEADER}` was already used with a different request; use a new key for a new request"
                ),
            ));
        }
        if let Some(status) = record.response_status {
            return Ok(Begin::Replay(replay(
                status,
                record.response_body.unwrap_or_default(),
                record.response_location,
            )));
        }
        let held_until = record.locked_until.unwrap_or_else(Utc::now);
        if held_until > Utc::now() {
            return Err(in_use(held_until));
        }
        // The first attempt stalled (its gateway died mid-request): take the key over,
        // with a compare-and-set on the lock so only one retry wins.
        let taken = diesel::update(keys::table.find((&tenant, &env, &key)))
            .filter(keys::locked_until.eq(record.locked_until))
            .filter(keys::response_status.is_null())
            .set(keys::locked_until.eq(lock_until))
            .execute(&mut conn)
            .await
            .map_err(db_problem)?;
        if taken == 1 {
            Ok(Begin::Execute(claim(record.resource_id, record.message_id)))
        } else {
            Err(in_use(lock_until))
        }
    }

    /// Runs `execute` at most once per key: a replay answers from the record, a fresh
    /// claim executes and records the answer. An `Err` from `execute` means nothing was
    /// done; the key is released for a retry and the problem returned.
    pub async fn run<F, Fut>(
        &self,
        req: &KeyedRequest,
        new_ids: impl FnOnce() -> (String, String),
        execute: F,
    ) -> Result<HttpResponse, Problem>
    where
        F: FnOnce(Claim) -> Fut,
        Fut: Future<Output = Result<Answer, Problem>>,
    {
        let claim = match self.begin(req, new_ids).await? {
            Begin::Replay(response) => return Ok(response),
            Begin::Execute(claim) => claim,
        };
        match execute(claim.clone()).await {
            Ok(answer) => {
                self.complete(&claim, &answer).await;
                Ok(answer.into_response())
            }
            Err(problem) => {
                self.release(&claim).await;
                Err(problem)
            }
        }
    }

    /// Records the answer of an executed request, for replays.
    ///
    /// The answer to a command sent to its owner goes into a batch that commits without
    /// waiting for the disk: if a crash forgets it, a retry waits out the lock, then
    /// re-sends the same command under the same message id, which the owner recognises
    /// and answers with the same resource. A request without a command (its effect is
    /// the gateway's own, e.g. a minted API key) has no such second chance: its answer
    /// is recorded durably, on its own (these are rare).
    async fn complete(&self, claim: &Claim, answer: &Answer) {
        let record = RecordedAnswer {
            tenant: claim.tenant.clone(),
            env: claim.env.clone(),
            key: claim.key.clone(),
            status: i32::from(answer.status.as_u16()),
            body: answer.body.clone(),
            location: answer.location.clone(),
        };
        let batched = if claim.sends_command() {
            self.answers.submit(record.clone()).await.ok()
        } else {
            None
        };
        let result = match batched {
            Some(Written::Done(())) => Ok(()),
            // Tried once more on its own, durably: an unavailable batch may have met one
            // stale connection, and a missing answer keeps retries waiting for the lock.
            Some(Written::Unavailable | Written::Failed) | None => {
                async {
                    let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
                    batches::record_answer(&mut conn, &record)
                        .await
                        .map_err(|e| e.to_string())
                }
                .await
            }
        };
        if let Err(e) = result {
            // The effect stands; a retry waits out the lock, then re-sends the same
            // command, which the owner recognises and answers with the same resource.
            tracing::warn!(error = %e, "could not record an idempotent answer");
        }
    }

    /// Releases the key of a request that did not complete (e.g. the broker refused or
    /// did not confirm the command), so a retry may execute at once. The ids stay: if the
    /// command did reach the owner after all, the retry sends the same message id and the
    /// owner applies it once.
    pub async fn release(&self, claim: &Claim) {
        let result = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            diesel::update(keys::table.find((&claim.tenant, &claim.env, &claim.key)))
                .filter(keys::response_status.is_null())
                .set(keys::locked_until.eq(Utc::now() - chrono::Duration::milliseconds(1)))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            // The lock expires by itself; until then retries get 409 in use.
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }

    /// Deletes records past retention; returns how many.
    pub async fn purge(&self) -> Result<usize, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        diesel::delete(keys::table.filter(keys::created_at.lt(Utc::now() - self.retention)))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
}

fn replay(status: i32, body: String, location: Option<String>) -> HttpResponse {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = respond(status, location);
    response.insert_header((REPLAYED, "true"));
    response.body(body)
}

fn respond(status: StatusCode, location: Option<String>) -> actix_web::HttpResponseBuilder {
    let content_type = if status.is_client_error() || status.is_server_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, content_type));
    if let Some(location) = location {
        response.insert_header((header::LOCATION, location));
    }
    response
}

fn in_use(until: chrono::DateTime<Utc>) -> Problem {
    let secs = (until - Utc::now()).num_seconds().clamp(1, 60) as u64;
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_use",
        "Idempotency key in use",
        format!("a request with this `{HEADER}` is still being processed; retry after it finishes"),
    )
    .retry_after(secs)
}

fn unavailable() -> Problem {
    Problem::unavailable("the gateway's database is unavailable", 2)
}

fn db_problem(e: diesel::result::Error) -> Problem {
    if loopdesk_storage::is_unavailable(&e) {
        unavailable()
    } else {
        tracing::error!(error = %e, "idempotency store failed");
        Problem::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_and_spacing_but_not_values() {
        let a = fingerprint("POST", "/v1/tickets", br#"{"a":1,"b":{"y":2,"x":[1,2]}}"#);
        let b = fingerprint(
            "POST",
            "/v1/tickets",
            br#"{ "b": {"x":[1,2], "y":2}, "a":1 }"#,
        );
        let c = fingerprint("POST", "/v1/tickets", br#"{"a":1,"b":{"y":3,"x":[1,2]}}"#);
        let d = fingerprint(
            "POST",
            "/api/create_ticket",
            br#"{"a":1,"b":{"y":2,"x":[1,2]}}"#,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}

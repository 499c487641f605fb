//! The transactional outbox: messages are written with the domain change, published later.

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, Selectable, result::Error as DieselError};
use diesel_async::RunQueryDsl;
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};

use crate::{Conn, schema::outbox};

/// Inserts `msg` into the outbox on the caller's connection, inside the caller's transaction,
/// so it commits or rolls back with the domain change.
pub async fn enqueue(conn: &mut Conn, msg: &OutgoingMessage) -> diesel::QueryResult<()> {
    enqueue_all(conn, std::slice::from_ref(msg)).await
}

/// Inserts all `msgs` into the outbox in one statement, in order.
pub async fn enqueue_all(conn: &mut Conn, msgs: &[OutgoingMessage]) -> diesel::QueryResult<()> {
    // Postgres caps one statement at 65535 bind parameters; 14 columns a row.
    const ROWS_PER_STATEMENT: usize = 4000;
    for chunk in msgs.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<NewOutboxRow<'_>> = chunk.iter().map(NewOutboxRow::from).collect();
        diesel::insert_into(outbox::table)
            .values(&rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewOutboxRow<'a> {
    message_id: &'a str,
    route_kind: &'static str,
    routing_key: &'a str,
    kind: &'a str,
    correlation_id: Option<&'a str>,
    reply_to: Option<&'a str>,
    occurred_at: DateTime<Utc>,
    tenant: &'a str,
    env: &'a str,
    schema_version: i64,
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> From<&'a OutgoingMessage> for NewOutboxRow<'a> {
    fn from(msg: &'a OutgoingMessage) -> Self {
        let (route_kind, routing_key) = match &msg.route {
            Route::Command(key) => (COMMAND, key),
            Route::Event(key) => (EVENT, key),
            Route::Reply(key) => (REPLY, key),
        };
        let envelope = &msg.envelope;
        Self {
            message_id: &envelope.message_id,
            route_kind,
            routing_key,
            kind: &envelope.kind,
            correlation_id: envelope.correlation_id.as_deref(),
            reply_to: envelope.reply_to.as_deref(),
            occurred_at: envelope.timestamp,
            tenant: &envelope.tenant,
            env: &envelope.env,
            schema_version: i64::from(envelope.schema_version),
            traceparent: envelope.traceparent.as_deref(),
            tracestate: envelope.tracestate.as_deref(),
            body: &msg.body,
        }
    }
}

const COMMAND: &str = "command";
const EVENT: &str = "event";
const REPLY: &str = "reply";

/// One outbox row as the relay reads it back.
#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub(crate) struct OutboxRow {
    pub(crate) id: i64,
    message_id: String,
    route_kind: String,
    routing_key: String,
    kind: String,
    correlation_id: Option<String>,
    reply_to: Option<String>,
    occurred_at: DateTime<Utc>,
    tenant: String,
    env: String,
    schema_version: i64,
    traceparent: Option<String>,
    tracestate: Option<String>,
    body: Vec<u8>,
}

impl OutboxRow {
    /// Rebuilds the message exactly as it was enqueued.
    pub(crate) fn into_message(self) -> diesel::QueryResult<OutgoingMessage> {
        let route = match self.route_kind.as_str() {
            COMMAND => Route::Command(self.routing_key),
            EVENT => Route::Event(self.routing_key),
            REPLY => Route::Reply(self.routing_key),
            other => return Err(corrupt(format!("unknown route kind `{other}`"))),
        };
        let schema_version = u32::try_from(self.schema_version).map_err(|_| {
            corrupt(format!(
                "schema_version {} out of range",
                self.schema_version
            ))
        })?;
        Ok(OutgoingMessage {
            route,
            envelope: Envelope {
                message_id: self.message_id,
                kind: self.kind,
                correlation_id: self.correlation_id,
                reply_to: self.reply_to,
                timestamp: self.occurred_at,
                tenant: self.tenant,
                env: self.env,
                schema_version,
                traceparent: self.traceparent,
                tracestate: self.tracestate,
            },
            body: self.body,
        })
    }
}

/// The table's check constraints make this unreachable unless rows were written by hand.
fn corrupt(reason: String) -> DieselError {
    DieselError::DeserializationError(format!("corrupt outbox row: {reason}").into())
}

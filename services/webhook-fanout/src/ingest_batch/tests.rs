//! Batches against a real database: the same answers and rows as the one-by-one path,
//! whatever mix of redeliveries and duplicates a batch holds, and the two ways a batch
//! can fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::{QueryableByName, sql_types::Text};
use loopdesk_contracts::ids::{EventId, WebhookEndpointId};
use loopdesk_storage::DatabaseSettings;
use serde_json::json;

use super::*;
use crate::{
    schema::deliveries,
    testing::{
        add_endpoint, begin_endpoint_delete, commit, dangling, database, delivered_to,
        someone_waits_for_a_lock,
    },
};

fn arrival(message_id: &str, event: EventId, tenant: &str, env: &str, kind: &str) -> Arrival {
    let body = json!({
        "id": event.to_string(),
        "type": kind,
        "created_at": "2026-11-21T10:00:00Z",
        "tenant": tenant,
        "env": env,
        "sequence": 1,
        "data": {"ticket": {"id": format!("tkt_of_{event}")}},
    })
    .to_string();
    Arrival {
        message_id: message_id.to_owned(),
        head: serde_json::from_str(&body).unwrap(),
        body,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
    }
}

/// Everything ingest writes, without the generated delivery ids.
#[derive(Debug, PartialEq)]
struct Written {
    inbox: Vec<String>,
    events: Vec<(String, String, String, String, Option<String>, String)>,
    deliveries: Vec<(String, String, String, String, String, String)>,
}

#[derive(QueryableByName)]
struct InboxRow {
    #[diesel(sql_type = Text)]
    message_id: String,
}

async fn written(pool: &Pool) -> Written {
    let mut conn = loopdesk_storage::connection(pool).await.unwrap();
    let inbox: Vec<InboxRow> =
        sql_query("SELECT message_id FROM inbox WHERE consumer = $1 ORDER BY message_id")
            .bind::<Text, _>(EVENT_INBOX)
            .load(&mut conn)
            .await
            .unwrap();
    let events = events_table::table
        .select((
            events_table::id,
            events_table::tenant,
            events_table::env,
            events_table::kind,
            events_table::traceparent,
            events_table::body,
        ))
        .order(events_table::id)
        .load(&mut conn)
        .await
        .unwrap();
    let deliveries = deliveries::table
        .select((
            deliveries::endpoint_id,
            deliveries::event_id,
            deliveries::tenant,
            deliveries::env,
            deliveries::event_type,
            deliveries::status,
        ))
        .order((deliveries::event_id, deliveries::endpoint_id))
        .load(&mut conn)
        .await
        .unwrap();
    Written {
        inbox: inbox.into_iter().map(|r| r.message_id).collect(),
        events,
        deliveries,
    }
}

#[tokio::test]
async fn a_batch_answers_and_writes_what_one_event_at_a_time_would() {
    let endpoints = [
        ("whe_all", "acme", "test", vec!["ticket.*"], true),
        ("whe_created", "acme", "test", vec!["ticket.created"], true),
        ("whe_off", "acme", "test", vec!["ticket.*"], false),
        ("whe_live", "acme", "live", vec!["ticket.*"], true),
        (
            "whe_globex",
            "globex",
            "test",
            vec!["ticket.created", "ticket.closed"],
            true,
        ),
    ]
    .map(|(name, tenant, env, types, enabled)| {
        (
            format!("{name}_{}", WebhookEndpointId::generate()),
            tenant,
            env,
            types,
            enabled,
        )
    });
    let [seen, first, second, live, globex_updated, globex_created] =
        [(); 6].map(|()| EventId::generate());
    // Redeliveries and duplicates of every kind, beside events for each scope.
    let batch = || {
        vec![
            arrival("m-1", first, "acme", "test", "ticket.created"),
            arrival("m-2", second, "acme", "test", "ticket.updated"),
            arrival("m-1", first, "acme", "test", "ticket.created"),
            arrival("m-3", first, "acme", "test", "ticket.created"),
            arrival("m-0", seen, "acme", "test", "ticket.created"),
            arrival("m-4", seen, "acme", "test", "ticket.created"),
            arrival("m-5", live, "acme", "live", "ticket.created"),
            arrival("m-6", globex_updated, "globex", "test", "ticket.updated"),
            arrival("m-7", globex_created, "globex", "test", "ticket.created"),
        ]
    };
    let mut runs = Vec::new();
    for batched in [true, false] {
        let (test, pool) = database().await;
        for (id, tenant, env, types, enabled) in &endpoints {
            add_endpoint(&pool, id, tenant, env, types, *enabled).await;
        }
        let before = arrival("m-0", seen, "acme", "test", "ticket.created");
        assert_eq!(ingest_all(&pool, &[before]).await[0].as_ref().unwrap(), &2);
        let answers: Vec<usize> = if batched {
            ingest_all(&pool, &batch()).await
        } else {
            let mut answers = Vec::new();
            for a in batch() {
                let head = &a.head;
                let one = events::ingest(
                    &pool,
                    &a.message_id,
                    head,
                    &a.body,
                    a.traceparent.as_deref(),
                );
                answers.push(one.await);
            }
            answers
        }
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(answers, [2, 1, 0, 0, 0, 0, 1, 0, 1], "batched: {batched}");
        runs.push(written(&pool).await);
        pool.close();
        test.drop_database().await;
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].deliveries.len(), 2 + 2 + 1 + 1 + 1);
    assert_eq!(
        runs[0].inbox,
        ["m-0", "m-1", "m-2", "m-3", "m-4", "m-5", "m-6", "m-7"]
    );
}

#[tokio::test]
async fn an_event_a_batch_cannot_store_is_failed_alone_and_the_others_are_stored() {
    let (test, pool) = database().await;
    add_endpoint(&pool, "whe_all", "acme", "test", &["ticket.*"], true).await;
    let [first, odd, last] = [(); 3].map(|()| EventId::generate());
    let mut unstorable = arrival("m-odd", odd, "acme", "test", "ticket.created");
    // PostgreSQL refuses NUL in text: the whole batch fails, not only this row.
    unstorable.body.push('\0');
    let batch = [
        arrival("m-first", first, "acme", "test", "ticket.created"),
        unstorable,
        arrival("m-last", last, "acme", "test", "ticket.updated"),
    ];
    let answers = ingest_all(&pool, &batch).await;
    assert_eq!(answers[0].as_ref().unwrap(), &1);
    assert!(
        matches!(answers[1], Err(ApplyError::Failed(_))),
        "{:?}",
        answers[1]
    );
    assert_eq!(answers[2].as_ref().unwrap(), &1);
    let stored = written(&pool).await;
    // The refused message is not marked processed: its retry can still store it.
    assert_eq!(stored.inbox, ["m-first", "m-last"]);
    assert_eq!(stored.deliveries.len(), 2);
    pool.close();
    test.drop_database().await;
}

#[tokio::test]
async fn an_unavailable_database_fails_every_event_of_the_batch_for_a_later_retry() {
    let mut settings = DatabaseSettings::new("postgres://postgres@127.0.0.1:1/nowhere", "webhooks");
    settings.acquire_timeout_ms = 300;
    let pool = loopdesk_storage::build_pool(&settings).unwrap();
    let batch = [(); 3].map(|()| {
        let id = EventId::generate();
        arrival(&id.to_string(), id, "acme", "test", "ticket.created")
    });
    let answers = ingest_all(&pool, &batch).await;
    assert_eq!(answers.len(), 3);
    for answer in answers {
        assert!(
            matches!(answer, Err(ApplyError::Unavailable(_))),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn a_fan_out_racing_an_endpoint_delete_leaves_no_delivery_behind() {
    for batched in [true, false] {
        let (test, pool) = database().await;
        add_endpoint(&pool, "whe_doomed", "acme", "test", &["ticket.*"], true).await;
        add_endpoint(&pool, "whe_kept", "acme", "test", &["ticket.*"], true).await;
        // Another instance deletes the endpoint and its deliveries, and has not committed.
        let deleting = begin_endpoint_delete(&pool, "whe_doomed").await;

        let event = EventId::generate();
        let fan_out = tokio::spawn({
            let pool = pool.clone();
            async move {
                let a = arrival("m-1", event, "acme", "test", "ticket.created");
                if batched {
                    ingest_all(&pool, &[a]).await.remove(0).unwrap()
                } else {
                    let trace = a.traceparent.as_deref();
                    events::ingest(&pool, &a.message_id, &a.head, &a.body, trace)
                        .await
                        .unwrap()
                }
            }
        });
        // Fan-out waits for the delete instead of adding a delivery it cannot see.
        someone_waits_for_a_lock(&pool).await;
        commit(deleting).await;
        assert_eq!(fan_out.await.unwrap(), 1, "batched: {batched}");
        assert_eq!(delivered_to(&pool, &event.to_string()).await, ["whe_kept"]);
        assert_eq!(dangling(&pool).await, 0);
        pool.close();
        test.drop_database().await;
    }
}

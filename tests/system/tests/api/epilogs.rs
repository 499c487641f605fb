//! The epilog dispatcher (seed §5.4–5.5): a real HTTP server plays the remote. Jobs are
//! started by publishing `intervention.submitted` as intervention-service does, after
//! defining the intervention (with its remote token) through the admin API, so the
//! dispatcher reads the token from intervention-service as it does in production.

use std::time::Duration;

use loopdesk_contracts::{
    Env, Tenant,
    epilogs::{INTERVENTION_SUBMITTED, InterventionSubmitted, RemoteCall},
    ids::{EventId, InterventionPayloadId, ResponseId, TicketId},
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{Options, TENANT, TestApp, spawn_app, spawn_app_with},
    receiver::{Receiver, Reply},
};

const TOKEN: &str = "remote-bearer-Zq8fW3kP1x";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Defines `name` with the remote at `url`.
async fn define(app: &TestApp, name: &str, url: &str, timeout_seconds: i32) {
    let response = app
        .post(
            "/v1/interventions",
            &app.admin_key(),
            Some(&ulid::Ulid::new().to_string()),
            &json!({
                "name": name,
                "title": "Discount request",
                "queue_name": "sales",
                "remote_enabled": true,
                "remote_name": "shop",
                "remote_epilog_url": url,
                "remote_bearer_token": TOKEN,
                "remote_timeout_seconds": timeout_seconds,
            }),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Publishes a submission of `name` as intervention-service would; answers it.
async fn submit(app: &TestApp, name: &str, url: &str, uid: &str) -> InterventionSubmitted {
    let submission = submission(name, url, uid);
    publish(app, &submission).await;
    submission
}

/// A submission of `name`, not yet published.
fn submission(name: &str, url: &str, uid: &str) -> InterventionSubmitted {
    InterventionSubmitted {
        id: EventId::generate(),
        created_at: chrono::Utc::now(),
        tenant: Tenant::parse(TENANT).unwrap(),
        env: Env::Test,
        payload_id: InterventionPayloadId::generate(),
        ticket_id: TicketId::generate(),
        response_id: ResponseId::generate(),
        intervention: name.to_owned(),
        uid: uid.to_owned(),
        action: "submit".to_owned(),
        data: json!({"currency": "GBP", "order_price": 95, "accept": true}),
        remote: RemoteCall {
            enabled: true,
            name: Some("shop".to_owned()),
            epilog_url: Some(url.to_owned()),
            timeout_seconds: 30,
        },
    }
}

/// Publishes `submission` as intervention-service does.
async fn publish(app: &TestApp, submission: &InterventionSubmitted) {
    let mut envelope = Envelope::new(INTERVENTION_SUBMITTED, TENANT, "test");
    envelope.traceparent = Some(TRACEPARENT.to_owned());
    let message = OutgoingMessage::json(
        Route::Event(INTERVENTION_SUBMITTED.to_owned()),
        envelope,
        submission,
    )
    .unwrap();
    app.broker.publisher().publish(&message).await.unwrap();
}

/// Waits until the job of `payload` is `status`; answers it with its attempts.
async fn job_of(app: &TestApp, payload: &InterventionPayloadId, status: &str) -> Value {
    let key = app.admin_key();
    let id = wait_until(Duration::from_secs(20), "the epilog job", || async {
        let page: Value = app.get("/v1/epilog_jobs", &key).await.json().await.ok()?;
        page["data"]
            .as_array()?
            .iter()
            .find(|j| j["payload_id"] == payload.to_string())
            .map(|j| j["id"].as_str().unwrap_or_default().to_owned())
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        &format!("a {status} job"),
        || async {
            let job: Value = app
                .get(&format!("/v1/epilog_jobs/{id}"), &key)
                .await
                .json()
                .await
                .ok()?;
            (job["status"] == status).then_some(job)
        },
    )
    .await
}

fn good_final(s: &InterventionSubmitted) -> Value {
    json!({
        "ok": true,
        "ticket_id": s.ticket_id.to_string(),
        "uid": s.uid,
        "intervention": s.intervention,
        "final": {
            "response_id": s.response_id.to_string(),
            "ticket_audit": "Discount approved at 95 GBP, remote order updated: ORD-10021",
            "remote_reference": "ORD-10021",
            "applied_price": 95
        }
    })
}

/// Every `epilog.*` event published so far, as JSON bodies.
async fn outcomes(app: &TestApp, tap: &crate::helpers::EventTap) -> Vec<Value> {
    app.wait_count("epilogs.outbox", 0).await;
    tap.settle(app)
        .await
        .into_iter()
        .filter(|d| d.envelope.kind.starts_with("epilog."))
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect()
}

#[tokio::test]
async fn the_remote_gets_the_exact_body_and_bearer_and_a_good_final_completes() {
    let app = spawn_app().await;
    let remote = Receiver::start().await;
    let url = remote.url("/epilog");
    define(&app, "discount_request", &url, 5).await;
    let tap = app.tap_events("epilog.#").await;
    let submission = submission("discount_request", &url, "remote-unique-id-123");
    remote
        .always(Reply::json(200, good_final(&submission)))
        .await;
    publish(&app, &submission).await;

    let job = job_of(&app, &submission.payload_id, "succeeded").await;
    let seen = remote.received().await;
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/epilog");
    assert_eq!(
        request.json(),
        json!({
            "ticket_id": submission.ticket_id.to_string(),
            "response_id": submission.response_id.to_string(),
            "uid": "remote-unique-id-123",
            "intervention": "discount_request",
            "action": "submit",
            "data": {"currency": "GBP", "order_price": 95, "accept": true}
        })
    );
    assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(
        request.header("idempotency-key"),
        job["id"].as_str().unwrap()
    );
    assert_eq!(request.header("traceparent"), TRACEPARENT);
    assert_eq!(request.header("content-type"), "application/json");
    assert!(
        request
            .header("user-agent")
            .starts_with("Loopdesk-Epilogs/")
    );

    assert_eq!(job["attempts"], 1);
    assert_eq!(job["final"]["remote_reference"], "ORD-10021");
    assert_eq!(job["attempts_log"][0]["status_code"], 200);
    let events = outcomes(&app, &tap).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "epilog.completed");
    assert_eq!(events[0]["detail"]["outcome"], "completed");
    assert_eq!(
        events[0]["detail"]["final"]["ticket_audit"],
        "Discount approved at 95 GBP, remote order updated: ORD-10021"
    );
    assert_eq!(events[0]["response_id"], submission.response_id.to_string());
    remote.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn two_503s_then_ok_makes_three_attempts_and_one_completion() {
    let app = spawn_app().await;
    let remote = Receiver::start().await;
    let url = remote.url("/epilog");
    define(&app, "discount_request", &url, 5).await;
    let tap = app.tap_events("epilog.#").await;
    remote.always(Reply::json(200, json!({"ok": true}))).await;
    remote
        .script(vec![Reply::status(503), Reply::status(503)])
        .await;
    let submission = submit(&app, "discount_request", &url, "u-503").await;

    let job = job_of(&app, &submission.payload_id, "succeeded").await;
    assert_eq!(job["attempts"], 3);
    let codes: Vec<&Value> = job["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(503), &json!(503), &json!(200)]);
    assert_eq!(remote.received().await.len(), 3);
    // The same key on every attempt: the remote can tell a repeat.
    let keys: Vec<String> = remote
        .received()
        .await
        .iter()
        .map(|r| r.header("idempotency-key").to_owned())
        .collect();
    assert!(keys.iter().all(|k| k == job["id"].as_str().unwrap()));
    let events = outcomes(&app, &tap).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "epilog.completed");
    assert_eq!(events[0]["detail"]["final"], Value::Null);
    remote.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn a_remote_that_times_out_is_retried_then_failed() {
    let app = spawn_app().await;
    let remote = Receiver::start().await;
    let url = remote.url("/slow");
    define(&app, "discount_request", &url, 1).await;
    let tap = app.tap_events("epilog.#").await;
    remote
        .always(Reply::json(200, json!({"ok": true})).after(Duration::from_millis(1500)))
        .await;
    let submission = submit(&app, "discount_request", &url, "u-slow").await;

    let job = job_of(&app, &submission.payload_id, "failed").await;
    assert_eq!(job["attempts"], 3);
    for attempt in job["attempts_log"].as_array().unwrap() {
        assert!(
            attempt["error"].as_str().unwrap().contains("timed out"),
            "{attempt}"
        );
        assert_eq!(attempt["status_code"], Value::Null);
    }
    assert!(
        job["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts")
    );
    let events = outcomes(&app, &tap).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "epilog.failed");
    assert_eq!(events[0]["detail"]["attempts"], 3);
    remote.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn a_401_fails_at_once_and_a_retry_after_fixing_the_token_succeeds() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let remote = Receiver::start().await;
    let url = remote.url("/epilog");
    define(&app, "discount_request", &url, 5).await;
    // The remote echoes what it was sent: the token must not reach any answer.
    remote
        .always(Reply::json(
            401,
            json!({"error": format!("bad token Bearer {TOKEN}")}),
        ))
        .await;
    let submission = submit(&app, "discount_request", &url, "u-401").await;

    let job = job_of(&app, &submission.payload_id, "failed").await;
    assert_eq!(job["attempts"], 1, "a 401 is not retried");
    assert_eq!(remote.received().await.len(), 1);
    let failed = app.get("/v1/epilog_jobs?status=failed", &key).await;
    assert_eq!(failed.status(), 200);
    let failed_text = failed.text().await.unwrap();
    let failed: Value = serde_json::from_str(&failed_text).unwrap();
    assert_eq!(failed["data"][0]["id"], job["id"]);
    let id = job["id"].as_str().unwrap();
    let detail_text = app
        .get(&format!("/v1/epilog_jobs/{id}"), &key)
        .await
        .text()
        .await
        .unwrap();
    for text in [&failed_text, &detail_text] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    assert!(detail_text.contains("[redacted]"), "{detail_text}");

    // Staff fix the token, then retry.
    let patched = app
        .client
        .patch(format!("{}/v1/interventions/discount_request", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", ulid::Ulid::new().to_string())
        .json(&json!({"remote_bearer_token": "fixed-token-777"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200, "{}", patched.text().await.unwrap());
    remote.always(Reply::json(200, json!({"ok": true}))).await;
    let retry_path = format!("/v1/epilog_jobs/{id}/retry");
    let missing_key = app.post(&retry_path, &key, None, &json!({})).await;
    assert_eq!(missing_key.status(), 400);
    let idem = ulid::Ulid::new().to_string();
    let retried = app.post(&retry_path, &key, Some(&idem), &json!({})).await;
    assert_eq!(retried.status(), 202, "{}", retried.text().await.unwrap());

    let job = job_of(&app, &submission.payload_id, "succeeded").await;
    assert_eq!(job["attempts"], 2, "the counter continues");
    let seen = remote.received().await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("authorization"), "Bearer fixed-token-777");
    // Only failed or rejected jobs can be retried.
    let again = app
        .post(
            &retry_path,
            &key,
            Some(&ulid::Ulid::new().to_string()),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 409);
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["code"], "epilog_job_not_retryable");
    // Another tenant does not see the job.
    let other = app.key_for("globex", Env::Test, &loopdesk_auth::Ability::ALL);
    assert_eq!(
        app.get(&format!("/v1/epilog_jobs/{id}"), &other)
            .await
            .status(),
        404
    );
    remote.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn a_final_naming_another_response_or_uid_is_rejected_and_not_retried() {
    let app = spawn_app().await;
    let remote = Receiver::start().await;
    let url = remote.url("/epilog");
    define(&app, "discount_request", &url, 5).await;
    let tap = app.tap_events("epilog.#").await;

    let wrong_response = submission("discount_request", &url, "u-final-1");
    let mut body = good_final(&wrong_response);
    body["final"]["response_id"] = json!(ResponseId::generate().to_string());
    remote.always(Reply::json(200, body)).await;
    publish(&app, &wrong_response).await;
    let job = job_of(&app, &wrong_response.payload_id, "rejected").await;
    assert!(
        job["rejection"]
            .as_str()
            .unwrap()
            .contains("final.response_id"),
        "{job}"
    );
    assert_eq!(job["final"], Value::Null);

    let wrong_uid = submission("discount_request", &url, "u-final-2");
    let mut body = good_final(&wrong_uid);
    body["uid"] = json!("someone-else");
    remote.always(Reply::json(200, body)).await;
    publish(&app, &wrong_uid).await;
    let job = job_of(&app, &wrong_uid.payload_id, "rejected").await;
    assert!(
        job["rejection"].as_str().unwrap().contains("`uid`"),
        "{job}"
    );
    assert_eq!(job["attempts"], 1);

    let events = outcomes(&app, &tap).await;
    let kinds: Vec<&Value> = events.iter().map(|e| &e["type"]).collect();
    assert_eq!(
        kinds,
        [
            &json!("epilog.final_rejected"),
            &json!("epilog.final_rejected")
        ]
    );
    // Not retried: one call per job.
    assert_eq!(remote.received().await.len(), 2);
    remote.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allow_listed() {
    let app = spawn_app_with(Options {
        epilog_allow_cidrs: Some(String::new()),
        ..Options::default()
    })
    .await;
    let remote = Receiver::start().await;
    let url = remote.url("/epilog");
    define(&app, "discount_request", &url, 5).await;
    let submission = submit(&app, "discount_request", &url, "u-private").await;

    let job = job_of(&app, &submission.payload_id, "failed").await;
    for attempt in job["attempts_log"].as_array().unwrap() {
        let reason = attempt["refused_reason"].as_str().unwrap();
        assert!(reason.contains("not a public address"), "{reason}");
    }
    assert!(remote.received().await.is_empty());
    remote.stop().await;
    app.teardown().await;
}

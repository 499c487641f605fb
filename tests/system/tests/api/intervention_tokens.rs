//! The remote's bearer token on its way from the gateway to intervention-service: sealed
//! for that service before it leaves the gateway, so the broker (its disk, its dead
//! letters, its frame logs) never holds it in plaintext; and an intervention-service
//! whose key does not match refuses the command cleanly, with nothing written.

use std::{path::Path, sync::Arc, time::Duration};

use loopdesk_contracts::interventions::{DEFINE_INTERVENTION, UPDATE_INTERVENTION};
use loopdesk_messaging::{
    Binding, ConsumerSpec, Delivery, Envelope, Handler, Outcome, OutgoingMessage, Route, RpcClient,
    declare_consumer, spawn_consumer,
};
use loopdesk_testkit::wait_until;
use loopdesk_transit::PrivateKey;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::{Options, TENANT, TOKEN_PRIVATE_KEY, TestApp, spawn_app, spawn_app_with};

const NAME: &str = "discount_request";

/// Copies of the commands published with the given names (a direct exchange delivers to
/// every queue bound with the key, so intervention-service still gets its own).
struct CommandTap(Arc<Mutex<Vec<Delivery>>>);

#[async_trait::async_trait]
impl Handler for CommandTap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0.lock().await.push(delivery.clone());
        Outcome::Ack
    }
}

async fn tap_commands(app: &TestApp, names: &[&str]) -> Arc<Mutex<Vec<Delivery>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = ConsumerSpec {
        name: format!(
            "tap.commands.{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ),
        bindings: names
            .iter()
            .map(|name| Binding::Command((*name).to_owned()))
            .collect(),
        prefetch: None,
        concurrency: 1,
    };
    // Bound before anything is sent, so the tap misses nothing.
    declare_consumer(&app.broker, &spec).await.unwrap();
    spawn_consumer(&app.broker, spec, Arc::new(CommandTap(seen.clone())));
    seen
}

/// One request with the given Idempotency-Key; answers status, whether it was a replay,
/// and the body as text.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    idempotency_key: &str,
    body: Value,
) -> (u16, bool, String) {
    let response = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(app.admin_key())
        .header("Idempotency-Key", idempotency_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (status, replayed, response.text().await.unwrap())
}

fn fresh_key() -> String {
    ulid::Ulid::new().to_string()
}

fn definition(token: Option<&str>) -> Value {
    json!({
        "name": NAME,
        "title": "Discount request",
        "queue_name": "billing",
        "remote_enabled": true,
        "remote_epilog_url": "https://shop.example/epilog",
        "remote_bearer_token": token,
    })
}

fn command_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto-schemas/intervention.command.v2.json");
    let text = std::fs::read_to_string(&path).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[tokio::test]
async fn the_intervention_commands_carry_the_bearer_token_only_sealed_for_the_service() {
    let app = spawn_app().await;
    let tapped = tap_commands(&app, &[DEFINE_INTERVENTION, UPDATE_INTERVENTION]).await;
    let first = format!("rbt-first-{}", ulid::Ulid::new());
    let second = format!("rbt-second-{}", ulid::Ulid::new());
    let path = format!("/v1/interventions/{NAME}");

    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/interventions",
        &fresh_key(),
        definition(Some(&first)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for (change, set) in [
        (json!({"remote_bearer_token": second}), true),
        (json!({"remote_bearer_token": null}), false),
    ] {
        let (status, _, body) = send(&app, Method::PATCH, &path, &fresh_key(), change).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["remote_bearer_token_set"], set, "{body}");
    }

    let commands = wait_until(Duration::from_secs(10), "three tapped commands", || async {
        let seen = tapped.lock().await;
        (seen.len() == 3).then(|| seen.clone())
    })
    .await;
    let schema = command_schema();
    let private = PrivateKey::from_base64(TOKEN_PRIVATE_KEY).unwrap();
    let mut sealed_tokens = Vec::new();
    for command in &commands {
        let text = String::from_utf8(command.body.clone()).unwrap();
        for token in [&first, &second] {
            assert!(
                !text.contains(token.as_str()),
                "plaintext on the broker: {text}"
            );
        }
        assert!(!text.contains("\"remote_bearer_token\""), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let errors: Vec<String> = schema.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "v2 rejects {body}: {errors:?}");
        let sealed = match command.envelope.kind.as_str() {
            DEFINE_INTERVENTION => &body["definition"]["remote_bearer_token_sealed"],
            _ => &body["patch"]["remote_bearer_token_sealed"],
        };
        sealed_tokens.push(sealed.clone());
    }
    // In order: the definition's token, the new one, then the clearing `null`. Each is
    // the real token sealed for intervention-service's key.
    let opened: Vec<Option<String>> = sealed_tokens
        .iter()
        .map(|sealed| {
            sealed.as_str().map(|sealed| {
                assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
                String::from_utf8(private.open(sealed).unwrap()).unwrap()
            })
        })
        .collect();
    assert_eq!(opened, [Some(first), Some(second), None]);

    app.teardown().await;
}

#[tokio::test]
async fn an_intervention_service_with_another_private_key_refuses_tokens_and_writes_nothing() {
    let app = spawn_app_with(Options {
        intervention_token_private_key: Some(PrivateKey::generate().to_base64()),
        ..Options::default()
    })
    .await;
    let events = app.tap_events("intervention.#").await;
    let token = format!("rbt-unreadable-{}", ulid::Ulid::new());
    let path = format!("/v1/interventions/{NAME}");
    let command_inbox = format!(
        "interventions.inbox WHERE consumer = '{}'",
        intervention_service::app::COMMAND_CONSUMER
    );

    // The caller's request was fine: a 503 that names the problem, not the token.
    let key = fresh_key();
    let (status, replayed, body) = send(
        &app,
        Method::POST,
        "/v1/interventions",
        &key,
        definition(Some(&token)),
    )
    .await;
    assert_eq!((status, replayed), (503, false), "{body}");
    assert!(!body.contains(&token), "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "remote_token_unreadable", "{problem}");
    assert_eq!(problem["status"], 503, "{problem}");
    assert_eq!(app.count("interventions.interventions").await, 0);
    assert_eq!(app.count(&command_inbox).await, 0, "not even claimed");
    // Not recorded under the key: the same request runs again (and may succeed once the
    // keys match), instead of replaying the refusal for a day.
    let (status, replayed, _) = send(
        &app,
        Method::POST,
        "/v1/interventions",
        &key,
        definition(Some(&token)),
    )
    .await;
    assert_eq!((status, replayed), (503, false));
    assert_eq!(app.get(&path, &app.admin_key()).await.status(), 404);

    // Without a token the service works as ever; a token change is refused whole, the
    // title that came with it included.
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/interventions",
        &fresh_key(),
        definition(None),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send(
        &app,
        Method::PATCH,
        &path,
        &fresh_key(),
        json!({"title": "Renamed", "remote_bearer_token": token}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let stored = app
        .get(&path, &app.admin_key())
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        (
            &stored["title"],
            &stored["remote_bearer_token_set"],
            &stored["version"]
        ),
        (&json!("Discount request"), &json!(false), &json!(1)),
        "{stored}"
    );
    assert_eq!(
        app.count(&command_inbox).await,
        1,
        "only the define applied"
    );

    // Garbage where a sealed token belongs, straight onto the broker: the same refusal.
    let command = json!({
        "type": DEFINE_INTERVENTION,
        "definition": {
            "name": "garbage_token",
            "title": "Garbage",
            "queue_name": "billing",
            "remote_bearer_token_sealed": "sealed:v1:bm90IGEgc2VhbGVkIGJveA==",
        },
        "actor": {"type": "system", "id": "test"},
    });
    let message = OutgoingMessage::json(
        Route::Command(DEFINE_INTERVENTION.to_owned()),
        Envelope::new(DEFINE_INTERVENTION, TENANT, "test"),
        &command,
    )
    .unwrap();
    let reply: Value = RpcClient::start(&app.broker)
        .call(message, Duration::from_secs(10))
        .await
        .expect("intervention-service answers")
        .json()
        .unwrap();
    assert_eq!(reply["outcome"], "rejected", "{reply}");
    assert_eq!(reply["error"]["code"], "remote_token_unreadable", "{reply}");
    assert_eq!(app.count("interventions.interventions").await, 1);

    // One event: the token-less definition's.
    let published: Vec<String> = events
        .settle(&app)
        .await
        .iter()
        .map(|d| d.envelope.kind.clone())
        .collect();
    assert_eq!(published, ["intervention.defined"]);

    app.teardown().await;
}

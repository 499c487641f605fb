//! `spawn_app()`: all five services started in-process on port 0, over a fresh database
//! and a broker name prefix of their own (`stack`, each one by `service`); and what
//! tests do with them: requests through the gateway (here), the database (`db`) and the
//! broker (`broker`).

mod broker;
mod db;
mod service;
mod stack;

use loopdesk_auth::{Ability, MintRequest};
use loopdesk_contracts::{Env, Tenant};
use serde_json::Value;

pub use broker::{EventTap, create_ticket_command};
pub use stack::{Options, TestApp, spawn_app, spawn_app_with};

/// The signing secret of test keys (32+ bytes).
pub const SECRET: &str = "test-signing-secret-0123456789-abcdef";
/// The tenant most tests act as.
pub const TENANT: &str = "acme";

/// The key webhook-fanout encrypts signing secrets with in tests (base64 of 32 bytes).
pub const WEBHOOK_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The key the intervention service encrypts remote bearer tokens with in tests.
pub const INTERVENTION_ENCRYPTION_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The private key remote bearer tokens are sealed for in tests (`loopdesk keys transit`).
pub const TOKEN_PRIVATE_KEY: &str = "LVW9NN2mS+F0ZssV8kZbcs5gWEtG1Zke1o8tp/amVek=";
/// Its public half, which the gateway seals with.
pub const TOKEN_PUBLIC_KEY: &str = "3LkE1LwLMv1isSXHZFtp2hmgxQeVJf+mOegQgTVvAVU=";

impl TestApp {
    /// A test key of `tenant` with `abilities`.
    pub fn key_for(&self, tenant: &str, env: Env, abilities: &[Ability]) -> String {
        self.keys
            .mint(MintRequest {
                sub: "user:tester".into(),
                tenant: Tenant::parse(tenant).unwrap(),
                env,
                abilities: abilities.to_vec(),
                ttl: chrono::Duration::hours(1),
                label: None,
            })
            .unwrap()
            .token
    }

    /// A test key of the default tenant with every ability.
    pub fn admin_key(&self) -> String {
        self.key_for(TENANT, Env::Test, &Ability::ALL)
    }

    /// `POST path` with a JSON body, a key and an optional idempotency key.
    pub async fn post(
        &self,
        path: &str,
        key: &str,
        idempotency_key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .json(body);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.expect("request sent")
    }

    /// `POST /v1/tickets` with a fresh idempotency key.
    pub async fn create_ticket(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/tickets", key, Some(&fresh_key()), body)
            .await
    }

    /// `GET path` with a key.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(key)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /v1/webhook_endpoints` with a fresh idempotency key; asserts 201 and
    /// answers the body (with its `secret`).
    pub async fn create_endpoint(&self, key: &str, body: &Value) -> Value {
        let response = self
            .post("/v1/webhook_endpoints", key, Some(&fresh_key()), body)
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// A new Idempotency-Key.
fn fresh_key() -> String {
    ulid::Ulid::new().to_string()
}

/// A minimal valid create body.
pub fn ticket_body(subject: &str) -> Value {
    serde_json::json!({
        "subject": subject,
        "description": "It does not work.",
        "requester": {"email": "ann@example.com", "name": "Ann"},
        "priority": "high",
        "queue": "billing",
        "tags": ["vip", "invoice"],
        "metadata": {"order": "ORD-1"}
    })
}

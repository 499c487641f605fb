//! The calls the benchmark makes to the gateway, as an integrator would.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// A gateway client with one API key.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(512)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", ulid::Ulid::new().to_string())
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Creates a ticket; Ok with the HTTP status (201 or 202) when accepted.
    pub async fn create_ticket(&self, n: u64) -> anyhow::Result<u16> {
        let body = json!({
            "subject": format!("Bench ticket {n}"),
            "description": "Created by make bench.",
            "requester": {"email": format!("bench{}@example.com", n % 1000)},
            "priority": "normal",
            "tags": ["bench"],
        });
        let (status, answer) = self.post("/v1/tickets", &body).await?;
        if status != 201 && status != 202 {
            bail!("create answered {status}: {}", answer["detail"]);
        }
        Ok(status)
    }

    /// Subscribes `url` to `ticket.created` with full payloads; returns (id, secret).
    pub async fn create_endpoint(&self, url: &str) -> anyhow::Result<(String, String)> {
        let body = json!({"url": url, "event_types": ["ticket.created"], "payload_style": "full", "description": "make bench"});
        let (status, answer) = self.post("/v1/webhook_endpoints", &body).await?;
        if status != 201 {
            bail!("creating a webhook endpoint answered {status}: {answer}");
        }
        let id = answer["id"].as_str().context("endpoint id")?.to_owned();
        let secret = answer["secret"]
            .as_str()
            .context("endpoint secret")?
            .to_owned();
        Ok((id, secret))
    }

    /// Removes an endpoint (best effort).
    pub async fn delete_endpoint(&self, id: &str) {
        let _ = self
            .http
            .delete(format!("{}/v1/webhook_endpoints/{id}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", ulid::Ulid::new().to_string())
            .send()
            .await;
    }
}

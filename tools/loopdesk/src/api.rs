//! Talking to a running gateway: the CLI's mutations go through the public API, with an
//! admin key and an idempotency key, like any integration's.

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

/// Where the gateway is and which key to use.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "LOOPDESK_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    api_url: String,
    /// An API key with the abilities the command needs.
    #[arg(long, env = "LOOPDESK_API_KEY", hide_env_values = true)]
    api_key: String,
}

impl ApiArgs {
    /// Sends `method path` with an optional JSON body and a fresh idempotency key;
    /// returns the JSON answer, or an error quoting the problem's detail.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let mut request = client
            .request(
                method.clone(),
                format!("{}{path}", self.api_url.trim_end_matches('/')),
            )
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", format!("cli-{}", ulid::Ulid::new()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("could not reach the gateway at {}", self.api_url))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = answer["detail"].as_str().unwrap_or("no detail");
            let code = answer["code"].as_str().unwrap_or("unknown");
            bail!("{method} {path} answered {status} {code}: {detail}");
        }
        Ok(answer)
    }
}

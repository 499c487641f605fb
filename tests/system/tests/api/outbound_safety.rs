//! Outbound safety: a host resolving to a non-global address is refused before any
//! connection, unless allow-listed, and the refusal shows on the attempt.

use std::time::Duration;

use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{Options, TENANT, spawn_app, spawn_app_with},
    receiver::Receiver,
    webhooks::deliveries_of,
};

#[tokio::test]
async fn non_global_addresses_are_refused_unless_allow_listed() {
    let app = spawn_app_with(Options {
        webhook_allow_cidrs: Some(String::new()),
        webhook_schedule_ms: Some("0,60000".into()),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let key = app.admin_key();
    let urls = [
        "http://10.0.0.1/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://[::1]:{port}/hook"),
        // A name resolving to loopback is judged by what it resolves to.
        format!("http://localhost:{port}/hook"),
    ];
    let mut endpoints = Vec::new();
    for url in &urls {
        let created = app
            .create_endpoint(&key, &json!({"url": url, "event_types": ["ticket.*"]}))
            .await;
        endpoints.push(created["id"].as_str().unwrap().to_owned());
    }
    app.publish_event(TENANT, "ticket.created").await;

    for (endpoint, url) in endpoints.iter().zip(&urls) {
        let attempt = wait_until(
            Duration::from_secs(15),
            &format!("a refused attempt to {url}"),
            || async {
                let delivery = deliveries_of(&app, &key, endpoint).await.pop()?;
                let page: Value = app
                    .get(
                        &format!("/v1/deliveries/{}/attempts", delivery["id"].as_str()?),
                        &key,
                    )
                    .await
                    .json()
                    .await
                    .ok()?;
                page["data"].as_array()?.first().cloned()
            },
        )
        .await;
        let reason = attempt["refused_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("not a public address"), "{url}: {attempt}");
        assert!(attempt["status_code"].is_null());
        assert_eq!(attempt["succeeded"], false);
    }
    assert!(
        receiver.received().await.is_empty(),
        "a request got through"
    );
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn allow_listed_loopback_names_are_reached() {
    // The default test allow-list holds 127.0.0.0/8 and ::1/128.
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let key = app.admin_key();
    app.create_endpoint(
        &key,
        &json!({"url": format!("http://localhost:{port}/hook"), "event_types": ["ticket.*"]}),
    )
    .await;
    app.publish_event(TENANT, "ticket.created").await;
    assert_eq!(receiver.wait_for(1).await[0].path, "/hook");
    app.teardown().await;
    receiver.stop().await;
}

//! Listing filters and full-text search over the subject, the description and the
//! thread.

use serde_json::{Value, json};

use crate::{
    helpers::spawn_app,
    steps::{move_to, new_ticket, respond},
};

#[tokio::test]
async fn search_and_filters_find_tickets_by_subject_thread_and_fields() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let boiler = new_ticket(&app, &key, "Boiler makes noise").await;
    let meter = new_ticket(&app, &key, "Meter reading").await;
    let note = json!({"kind": "note", "body": "customer mentioned a thermostat fault"});
    assert_eq!(respond(&app, &key, &meter, &note).await.status(), 201);
    move_to(&app, &key, &boiler, "open").await;

    let ids = async |query: &str| -> Vec<String> {
        let page: Value = app
            .get(&format!("/v1/tickets?{query}"), &key)
            .await
            .json()
            .await
            .unwrap();
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("q=boiler").await, [boiler.as_str()]);
    assert_eq!(
        ids("q=thermostat").await,
        [meter.as_str()],
        "the thread is searched"
    );
    assert_eq!(
        ids("q=boilers").await,
        [boiler.as_str()],
        "stemmed words match"
    );
    assert_eq!(ids("status=open").await, [boiler.as_str()]);
    assert_eq!(ids("sla_breached=false").await.len(), 2);
    assert_eq!(
        ids("updated_after=2999-01-01T00:00:00Z").await,
        Vec::<String>::new()
    );
    app.teardown().await;
}

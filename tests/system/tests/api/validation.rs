use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, ticket_body};

async fn send_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/tickets", app.address))
        .bearer_auth(app.admin_key())
        .header("Idempotency-Key", ulid::Ulid::new().to_string())
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn assert_problem(response: reqwest::Response, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(response.status(), status, "expected {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert!(problem["type"].as_str().unwrap().ends_with(code));
    assert!(!problem["title"].as_str().unwrap().is_empty());
    assert!(!problem["detail"].as_str().unwrap().is_empty());
    if let Some(field) = field {
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{field} not named in {problem}");
    }
}

#[tokio::test]
async fn each_bad_input_gets_a_problem_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    let json_ct = "application/json";
    let with = |patch: Value| {
        let mut body = ticket_body("Valid");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::to_vec(&body).unwrap()
    };
    let without_requester = {
        let mut body = ticket_body("Valid");
        body.as_object_mut().unwrap().remove("requester");
        serde_json::to_vec(&body).unwrap()
    };

    assert_problem(
        send_raw(&app, json_ct, b"{\"subject\": ".to_vec()).await,
        400,
        "malformed_json",
        None,
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, b"".to_vec()).await,
        400,
        "malformed_json",
        None,
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"subject": 5}))).await,
        422,
        "validation_failed",
        Some("subject"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"requester": {"email": 7}}))).await,
        422,
        "validation_failed",
        Some("requester.email"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, without_requester).await,
        422,
        "validation_failed",
        Some("requester"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"subject": "x".repeat(256)}))).await,
        422,
        "validation_failed",
        Some("subject"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"colour": "red"}))).await,
        422,
        "validation_failed",
        Some("colour"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"priority": "whenever"}))).await,
        422,
        "validation_failed",
        Some("priority"),
    )
    .await;
    assert_problem(
        send_raw(&app, json_ct, with(json!({"tags": ["ok", "NOT OK!"]}))).await,
        422,
        "validation_failed",
        Some("tags[1]"),
    )
    .await;
    assert_problem(
        send_raw(
            &app,
            json_ct,
            with(json!({"requester": {"email": "nobody"}})),
        )
        .await,
        422,
        "validation_failed",
        Some("requester.email"),
    )
    .await;
    assert_problem(
        send_raw(&app, "text/plain", with(json!({}))).await,
        415,
        "unsupported_media_type",
        None,
    )
    .await;
    let huge = with(json!({"description": "x".repeat(300 * 1024)}));
    assert_problem(
        send_raw(&app, json_ct, huge).await,
        413,
        "body_too_large",
        None,
    )
    .await;

    assert_eq!(app.count("tickets.tickets").await, 0);
    assert_eq!(app.count("gateway.idempotency_keys").await, 0);
    assert_eq!(app.count("tickets.outbox").await, 0);

    app.teardown().await;
}

#[tokio::test]
async fn bad_list_parameters_and_unknown_routes_are_problems() {
    let app = spawn_app().await;
    let key = app.admin_key();
    assert_problem(
        app.get("/v1/tickets?limit=0", &key).await,
        422,
        "validation_failed",
        Some("limit"),
    )
    .await;
    assert_problem(
        app.get("/v1/tickets?limit=101", &key).await,
        422,
        "validation_failed",
        Some("limit"),
    )
    .await;
    assert_problem(
        app.get("/v1/tickets?status=lost", &key).await,
        400,
        "invalid_query",
        None,
    )
    .await;
    assert_problem(
        app.get("/v1/tickets?cursor=forged", &key).await,
        400,
        "invalid_cursor",
        None,
    )
    .await;
    assert_problem(
        app.get("/v1/tickets/tkt_nonsense", &key).await,
        404,
        "not_found",
        None,
    )
    .await;
    assert_problem(
        app.get("/v1/nothing-here", &key).await,
        404,
        "route_not_found",
        None,
    )
    .await;

    app.teardown().await;
}

//! The intervention library (definitions, fields, templates, remote token) and the
//! ticket panel, through the gateway and the intervention service.

use loopdesk_auth::Ability;
use loopdesk_contracts::Env;
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::{TENANT, TestApp, spawn_app, ticket_body};

const TOKEN: &str = "rbt-Sup3r-S3cret-remote-token";

/// Requests with one key, each with a fresh Idempotency-Key.
struct Api<'a> {
    app: &'a TestApp,
    key: &'a str,
}

impl<'a> Api<'a> {
    fn new(app: &'a TestApp, key: &'a str) -> Self {
        Self { app, key }
    }

    /// `method path`, with `body` as JSON when there is one.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.address))
            .bearer_auth(self.key)
            .header("Idempotency-Key", ulid::Ulid::new().to_string());
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        assert!(!text.contains(TOKEN), "the bearer token leaked: {text}");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates the definition `name` as [`definition`] describes it.
    async fn define(&self, name: &str) {
        self.post("/v1/interventions", definition(name))
            .await
            .assert_status(201);
    }
}

/// An answer (never holding the remote's bearer token).
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    /// Itself, once its status is `status`.
    fn assert_status(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{}", self.body);
        self
    }

    /// The status and the problem's `code`.
    fn refusal(&self) -> (u16, Option<&str>) {
        (self.status, self.body["code"].as_str())
    }

    /// The fields a 422 names, in order.
    fn invalid_fields(&self) -> Vec<&str> {
        assert_eq!(self.status, 422, "{}", self.body);
        self.body["errors"]
            .as_array()
            .map(|e| e.iter().map(|e| e["field"].as_str().unwrap()).collect())
            .unwrap_or_default()
    }
}

fn definition(name: &str) -> Value {
    json!({
        "name": name,
        "title": "Discount request",
        "queue_name": "Billing",
        "notify_inbox_managers": true,
        "fma_inbox_managers": false,
        "remote_enabled": true,
        "remote_name": "Shop",
        "remote_epilog_url": "https://shop.example/epilog",
        "remote_bearer_token": TOKEN,
        "remote_timeout_seconds": 10
    })
}

#[tokio::test]
async fn definitions_are_created_read_listed_and_updated_without_showing_the_token() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let admin = Api::new(&app, &key);

    let created = admin
        .post("/v1/interventions", definition("discount_request"))
        .await
        .assert_status(201);
    assert_eq!(
        created.headers["location"],
        "/v1/interventions/discount_request"
    );
    let created = created.body;
    assert_eq!(created["queue_name"], "billing");
    assert_eq!(created["remote_bearer_token_set"], true);
    assert_eq!(created["remote_timeout_seconds"], 10);
    assert!(created.get("remote_bearer_token").is_none(), "{created}");

    // The token is sealed at rest: stored, but not as its plaintext.
    let sealed = "interventions.interventions WHERE remote_bearer_token_enc IS NOT NULL";
    assert_eq!(app.count(sealed).await, 1);
    let plain = format!(
        "interventions.interventions WHERE position(convert_to('{TOKEN}', 'UTF8') in remote_bearer_token_enc) > 0"
    );
    assert_eq!(app.count(&plain).await, 0);

    let dup = admin
        .post("/v1/interventions", definition("discount_request"))
        .await;
    assert_eq!(dup.refusal(), (409, Some("intervention_exists")));

    let mut bad = definition("Bad Name");
    bad["remote_epilog_url"] = Value::Null;
    bad["remote_timeout_seconds"] = json!(500);
    bad["title"] = json!("");
    let refused = admin.post("/v1/interventions", bad).await;
    assert_eq!(
        refused.invalid_fields(),
        [
            "name",
            "title",
            "remote_epilog_url",
            "remote_timeout_seconds"
        ]
    );
    let unknown = json!({"name": "x", "title": "x", "queue_name": "q", "typo": 1});
    admin
        .post("/v1/interventions", unknown)
        .await
        .assert_status(422);
    assert_eq!(app.count("interventions.interventions").await, 1);

    let path = "/v1/interventions/discount_request";
    let response = app.get(path, &key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let text = response.text().await.unwrap();
    assert!(!text.contains(TOKEN));

    let mut second = definition("address_check");
    second["remote_bearer_token"] = Value::Null;
    admin
        .post("/v1/interventions", second)
        .await
        .assert_status(201);
    let page: Value = app
        .get("/v1/interventions?limit=1", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["name"], "address_check");
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(&format!("/v1/interventions?limit=1&cursor={cursor}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"][0]["name"], "discount_request");
    assert_eq!(next["has_more"], false);
    assert!(!next.to_string().contains(TOKEN));

    let patched = admin
        .patch(
            path,
            json!({"title": "Discount approval", "remote_bearer_token": null}),
        )
        .await
        .assert_status(200);
    assert!(patched.headers.get("location").is_none());
    let patched = patched.body;
    assert_eq!(patched["title"], "Discount approval");
    assert_eq!(patched["remote_bearer_token_set"], false);
    assert_eq!(patched["remote_enabled"], true, "untouched");
    assert_eq!(patched["version"], 2);
    let patched = admin
        .patch(
            path,
            json!({"remote_bearer_token": TOKEN, "remote_enabled": false}),
        )
        .await
        .assert_status(200)
        .body;
    assert_eq!(patched["remote_bearer_token_set"], true);
    let refused = admin
        .patch(
            path,
            json!({"remote_epilog_url": "ftp://nope", "remote_enabled": true}),
        )
        .await;
    assert_eq!(refused.invalid_fields(), ["remote_epilog_url"]);

    // Another tenant, or a key without the ability, sees nothing.
    let other = app.key_for("globex", Env::Test, &Ability::ALL);
    assert_eq!(app.get(path, &other).await.status(), 404);
    let stranger = Api::new(&app, &other);
    stranger
        .patch(path, json!({"title": "mine"}))
        .await
        .assert_status(404);
    let reader = app.key_for(TENANT, Env::Test, &[Ability::TicketsRead]);
    assert_eq!(app.get("/v1/interventions", &reader).await.status(), 403);
    assert_eq!(app.get("/v1/interventions/Nope!", &key).await.status(), 404);

    app.teardown().await;
}

#[tokio::test]
async fn fields_are_replaced_added_changed_removed_and_reordered_under_their_rules() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let admin = Api::new(&app, &key);
    admin.define("discount_request").await;
    let path = "/v1/interventions/discount_request/fields";

    let replaced = admin
        .put(
            path,
            json!([
                {"type": "label", "label": "Price in {{currency}}"},
                {"type": "text", "name": "order_price", "label": "Price", "width_px": 120, "required": true},
                {"type": "hr"},
                {"type": "checkbox", "name": "accept", "label": "Accept"}
            ]),
        )
        .await
        .assert_status(200)
        .body;
    let fields = replaced["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), 4);
    for (i, f) in fields.iter().enumerate() {
        assert_eq!(f["ordinal"], i);
        assert!(f["id"].as_str().unwrap().starts_with("fld_"));
    }

    let refused = admin
        .put(
            path,
            json!([
                {"type": "text", "name": "a"},
                {"type": "checkbox"},
                {"type": "label", "name": "x", "width_px": 100},
                {"type": "text", "name": "a", "width_px": 5}
            ]),
        )
        .await;
    assert_eq!(
        refused.invalid_fields(),
        [
            "fields[1].name",
            "fields[2].name",
            "fields[2].width_px",
            "fields[3].width_px",
            "fields[3].name"
        ]
    );
    admin
        .put(path, json!([{"type": "radio", "name": "a"}]))
        .await
        .assert_status(422);
    let unchanged: Value = app
        .get("/v1/interventions/discount_request", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["fields"], Value::Array(fields.clone()));

    let added = admin
        .post(path, json!({"type": "text", "name": "note", "ordinal": 0}))
        .await
        .assert_status(201)
        .body;
    assert_eq!(added["fields"][0]["name"], "note");
    assert_eq!(added["fields"][4]["name"], "accept");
    let note = format!("{path}/{}", added["fields"][0]["id"].as_str().unwrap());
    let clash = admin
        .post(path, json!({"type": "checkbox", "name": "note"}))
        .await;
    assert_eq!(clash.invalid_fields(), ["name"]);

    let accept = format!("{path}/{}", fields[3]["id"].as_str().unwrap());
    let refused = admin.patch(&accept, json!({"width_px": 100})).await;
    assert_eq!(refused.invalid_fields(), ["width_px"]);
    let changed = admin
        .patch(
            &accept,
            json!({"label": "Approve {{order_price}}", "required": true}),
        )
        .await
        .assert_status(200)
        .body;
    assert_eq!(changed["fields"][4]["label"], "Approve {{order_price}}");
    assert_eq!(changed["fields"][4]["required"], true);

    let ids: Vec<String> = changed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let reorder = format!("{path}/reorder");
    let refused = admin.post(&reorder, json!({"field_ids": &ids[1..]})).await;
    assert_eq!(refused.invalid_fields(), ["field_ids"]);
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let reordered = admin
        .post(&reorder, json!({"field_ids": reversed}))
        .await
        .assert_status(200)
        .body;
    let now: Vec<&str> = reordered["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(now, reversed);

    let removed = admin.delete(&note).await.assert_status(200).body;
    assert_eq!(removed["fields"].as_array().unwrap().len(), 4);
    assert_eq!(removed["fields"][3]["ordinal"], 3);
    assert_eq!(
        admin.delete(&note).await.refusal(),
        (404, Some("field_not_found"))
    );
    admin
        .delete(&format!("{path}/fld_nope"))
        .await
        .assert_status(404);
    admin
        .post("/v1/interventions/unknown/fields", json!({"type": "hr"}))
        .await
        .assert_status(404);

    app.teardown().await;
}

#[tokio::test]
async fn templates_must_compile_and_the_private_one_stays() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let admin = Api::new(&app, &key);
    admin.define("discount_request").await;
    let base = "/v1/interventions/discount_request/templates";
    let (private, public) = (format!("{base}/private"), format!("{base}/public"));

    let refused = admin
        .put(
            &private,
            json!({"body": "<p>Price</p>\n{% if data.accept %}never closed"}),
        )
        .await
        .assert_status(422)
        .body;
    assert_eq!(refused["code"], "template_invalid");
    assert_eq!(refused["line"], 2);
    let listed: Value = app.get(base, &key).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));

    let source = "<p>{{ data.order_price }} {{ data.currency }}</p>";
    let stored = admin
        .put(&private, json!({"body": source}))
        .await
        .assert_status(200)
        .body;
    assert_eq!(stored["templates"], json!(["private"]));
    let stored = admin
        .put(&public, json!({"body": "We are looking at your discount."}))
        .await
        .assert_status(200)
        .body;
    assert_eq!(stored["templates"], json!(["private", "public"]));
    let listed: Value = app.get(base, &key).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["name"], "discount_request.private");
    assert_eq!(listed["data"][0]["body"], source);

    let deleted = admin.delete(&public).await.assert_status(200).body;
    assert_eq!(deleted["templates"], json!(["private"]));
    assert_eq!(
        admin.delete(&private).await.refusal(),
        (409, Some("template_required"))
    );
    admin
        .put(&format!("{base}/footer"), json!({"body": "x"}))
        .await
        .assert_status(404);

    app.teardown().await;
}

#[tokio::test]
async fn a_generated_remote_token_is_shown_once_and_may_create_tickets() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let admin = Api::new(&app, &key);
    let mut nameless = definition("no_remote");
    nameless["remote_name"] = Value::Null;
    admin
        .post("/v1/interventions", nameless)
        .await
        .assert_status(201);
    let refused = admin
        .send(
            Method::POST,
            "/v1/interventions/no_remote/remote_token",
            None,
        )
        .await;
    assert_eq!(refused.refusal(), (422, Some("remote_name_missing")));
    admin
        .send(Method::POST, "/v1/interventions/missing/remote_token", None)
        .await
        .assert_status(404);

    admin.define("discount_request").await;
    let path = "/v1/interventions/discount_request/remote_token";
    let idem = ulid::Ulid::new().to_string();
    let first = app.post(path, &key, Some(&idem), &json!({})).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let token = first["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ld_test_"));
    assert_eq!(first["label"], "Shop");
    assert_eq!(first["sub"], "remote:Shop");
    assert_eq!(first["abilities"], json!(["create-ticket"]));
    let replay = app.post(path, &key, Some(&idem), &json!({})).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["token"], Value::Null, "shown once");
    assert_eq!(replay["id"], first["id"]);

    let keys: Value = app.get("/v1/api_keys", &key).await.json().await.unwrap();
    assert!(
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == first["id"] && k["label"] == "Shop"),
        "{keys}"
    );

    // The remote's key passes authentication for create_ticket, and nothing else.
    let create = app
        .post(
            "/api/create_ticket",
            &token,
            Some(&ulid::Ulid::new().to_string()),
            &json!({
                "originator_email_address": "someone@client-system.example",
                "intervention": "discount_request",
                "uid": "remote-unique-id-123",
                "data": {"data": {"currency": "GBP"}}
            }),
        )
        .await;
    assert!(
        ![401, 403].contains(&create.status().as_u16()),
        "{}",
        create.status()
    );
    assert_eq!(app.get("/v1/tickets", &token).await.status(), 403);
    assert_eq!(app.get("/v1/interventions", &token).await.status(), 403);

    app.teardown().await;
}

#[tokio::test]
async fn the_panel_shows_open_payloads_with_label_tokens_resolved() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let admin = Api::new(&app, &key);
    admin.define("discount_request").await;
    admin
        .put(
            "/v1/interventions/discount_request/fields",
            json!([
                {"type": "label", "label": "Price in {{currency}} for {{customer}}"},
                {"type": "text", "name": "order_price", "label": "Order price ({{ order_price }}) {{title}}", "width_px": 80},
                {"type": "hr"},
                {"type": "checkbox", "name": "accept", "label": "Accept"}
            ]),
        )
        .await
        .assert_status(200);
    let created = app.create_ticket(&key, &ticket_body("Discount")).await;
    assert_eq!(created.status(), 201);
    let ticket: Value = created.json().await.unwrap();
    let ticket_id = ticket["id"].as_str().unwrap();

    let panel_path = format!("/v1/tickets/{ticket_id}/interventions");
    let empty: Value = app.get(&panel_path, &key).await.json().await.unwrap();
    assert_eq!(empty["data"], json!([]));

    let bag = json!({
        "data": {"currency": "GBP", "order_price": 100, "accept": false},
        "title": "Shop order 7"
    });
    let reply = app
        .open_intervention_payload(TENANT, ticket_id, "discount_request", "uid-1", bag.clone())
        .await;
    assert_eq!(reply["outcome"], "payload", "{reply}");
    let payload_id = reply["payload"]["id"].as_str().unwrap().to_owned();
    assert!(payload_id.starts_with("itv_"));

    let reader = app.key_for(TENANT, Env::Test, &[Ability::TicketsRead]);
    let panel: Value = app.get(&panel_path, &reader).await.json().await.unwrap();
    let items = panel["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{panel}");
    let item = &items[0];
    assert_eq!(item["id"], payload_id.as_str());
    assert_eq!(item["ticket_id"], ticket_id);
    assert_eq!(item["intervention"], "discount_request");
    assert_eq!(item["title"], "Discount request");
    assert_eq!(item["uid"], "uid-1");
    assert_eq!(item["accepted"], false);
    assert_eq!(item["data"], bag);
    let labels: Vec<Value> = item["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].clone())
        .collect();
    assert_eq!(
        labels,
        [
            json!("Price in GBP for {{customer}}"),
            json!("Order price (100) Shop order 7"),
            Value::Null,
            json!("Accept")
        ]
    );
    let types: Vec<&str> = item["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["label", "text", "hr", "checkbox"]);

    // The same uid while open refreshes the data bag of the same payload.
    let fresher = json!({"data": {"currency": "EUR", "order_price": 90, "accept": false}});
    let again = app
        .open_intervention_payload(
            TENANT,
            ticket_id,
            "discount_request",
            "uid-1",
            fresher.clone(),
        )
        .await;
    assert_eq!(again["payload"]["id"], payload_id.as_str());
    let panel: Value = app.get(&panel_path, &key).await.json().await.unwrap();
    assert_eq!(panel["data"].as_array().unwrap().len(), 1);
    assert_eq!(panel["data"][0]["data"], fresher);
    assert_eq!(
        panel["data"][0]["fields"][0]["label"],
        "Price in EUR for {{customer}}"
    );

    let unknown = app
        .open_intervention_payload(TENANT, ticket_id, "nope", "uid-2", json!({}))
        .await;
    assert_eq!(unknown["outcome"], "rejected");
    assert_eq!(unknown["error"]["code"], "intervention_not_found");

    let other = app.key_for("globex", Env::Test, &Ability::ALL);
    assert_eq!(app.get(&panel_path, &other).await.status(), 404);
    assert_eq!(
        app.get("/v1/tickets/tkt_nope/interventions", &key)
            .await
            .status(),
        404
    );
    assert_eq!(app.count("interventions.intervention_payloads").await, 1);

    app.teardown().await;
}

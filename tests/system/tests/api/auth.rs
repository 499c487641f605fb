use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use loopdesk_auth::Ability;
use loopdesk_contracts::{Env, ids::KeyId};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{SECRET, TENANT, TestApp, spawn_app, ticket_body};

/// A JWT built by hand, so tests can make the ones our minting never would.
fn forge(header: &Value, claims: &Value, secret: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn claims(env: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "user:mallory", "tenant": TENANT, "env": env,
        "abilities": ["tickets:read", "create-ticket"], "jti": KeyId::generate().to_string(),
        "iat": now - 10, "exp": now + exp_offset,
    })
}

async fn status_with(app: &TestApp, authorization: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(format!("{}/v1/tickets", app.address));
    if let Some(value) = authorization {
        req = req.header("Authorization", value);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_credentials_are_refused_with_401() {
    let app = spawn_app().await;
    let hs256 = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": "k1"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims("test", 3600).to_string())
    );
    let cases = [
        ("no header", None),
        (
            "not bearer",
            Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_owned()),
        ),
        ("garbage", Some("Bearer ld_test_garbage".to_owned())),
        (
            "no prefix",
            Some(format!(
                "Bearer {}",
                forge(&hs256, &claims("test", 3600), SECRET)
            )),
        ),
        ("alg none", Some(format!("Bearer ld_test_{none_token}"))),
        (
            "wrong signature",
            Some(format!(
                "Bearer ld_test_{}",
                forge(
                    &hs256,
                    &claims("test", 3600),
                    "another-secret-that-is-long-enough!!"
                )
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer ld_test_{}",
                forge(&hs256, &claims("test", -60), SECRET)
            )),
        ),
        (
            "live prefix on a test key",
            Some(format!(
                "Bearer ld_live_{}",
                forge(&hs256, &claims("test", 3600), SECRET)
            )),
        ),
        (
            "unknown kid",
            Some(format!(
                "Bearer ld_test_{}",
                forge(
                    &json!({"alg": "HS256", "kid": "k9"}),
                    &claims("test", 3600),
                    SECRET
                )
            )),
        ),
    ];
    for (name, header) in cases {
        let (status, problem) = status_with(&app, header.as_deref()).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(problem["code"], "unauthenticated", "{name}");
    }
    // The forged token with the right secret and env is accepted: the cases above fail
    // for the reason they name.
    let good = format!(
        "Bearer ld_test_{}",
        forge(&hs256, &claims("test", 3600), SECRET)
    );
    assert_eq!(status_with(&app, Some(&good)).await.0, 200);

    app.teardown().await;
}

#[tokio::test]
async fn a_missing_ability_is_403_and_writes_nothing() {
    let app = spawn_app().await;
    let reader = app.key_for(TENANT, Env::Test, &[Ability::TicketsRead]);
    let response = app
        .create_ticket(&reader, &ticket_body("Not allowed"))
        .await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "missing_ability");
    assert_eq!(app.count("tickets.tickets").await, 0);

    let writer = app.key_for(TENANT, Env::Test, &[Ability::CreateTicket]);
    assert_eq!(app.get("/v1/tickets", &writer).await.status(), 403);
    assert_eq!(
        app.create_ticket(&writer, &ticket_body("Allowed"))
            .await
            .status(),
        201
    );

    app.teardown().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    let victim = app.key_for(TENANT, Env::Test, &[Ability::TicketsRead]);
    assert_eq!(app.get("/v1/tickets", &victim).await.status(), 200);
    let jti = app.keys.verify(&victim).unwrap().jti;

    let revoked = app
        .client
        .delete(format!("{}/v1/api_keys/{jti}", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, problem) = status_with(&app, Some(&format!("Bearer {victim}"))).await;
    assert_eq!(status, 401);
    assert!(problem["detail"].as_str().unwrap().contains("revoked"));
    assert_eq!(app.get("/v1/tickets", &admin).await.status(), 200);

    app.teardown().await;
}

#[tokio::test]
async fn keys_minted_through_the_api_are_shown_once_and_work() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    let body = json!({"abilities": ["tickets:read"], "label": "reporting"});
    let created = app
        .post("/v1/api_keys", &admin, Some("mint-1"), &body)
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ld_test_"));
    assert_eq!(app.get("/v1/tickets", &token).await.status(), 200);

    let replay: Value = app
        .post("/v1/api_keys", &admin, Some("mint-1"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["id"], created["id"]);
    assert!(replay["token"].is_null(), "the token is never shown twice");
    let listed: Value = app.get("/v1/api_keys", &admin).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["id"], created["id"]);
    assert!(listed["data"][0].get("token").is_none());

    // A key cannot grant what it does not have.
    let reader_admin = app.key_for(TENANT, Env::Test, &[Ability::KeysAdmin]);
    let escalation = app
        .post(
            "/v1/api_keys",
            &reader_admin,
            Some("mint-2"),
            &json!({"abilities": ["tickets:write"]}),
        )
        .await;
    assert_eq!(escalation.status(), 422);

    app.teardown().await;
}

//! `GET /v1/openapi.json` documents every route the gateway serves, and `/docs` is a
//! Swagger UI that loads only the gateway's own assets.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` of every public route, read off the gateway's route tables: the
/// `.route("/path", web::method()...)` calls, with `/v1` for the scoped ones.
fn routes_in_code() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/api-gateway/src");
    let mut routes = BTreeSet::new();
    for file in [
        "app.rs",
        "webhooks/mod.rs",
        "interventions/mod.rs",
        "epilogs.rs",
    ] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        // Squash formatting so each call reads `.route("/p",web::get()`.
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for call in text.split(".route(").skip(1) {
            let Some(rest) = call.strip_prefix('"') else {
                continue;
            };
            let Some((path, rest)) = rest.split_once('"') else {
                continue;
            };
            let Some(method) = rest
                .strip_prefix(",web::")
                .and_then(|r| r.split_once("()"))
                .map(|(m, _)| m.to_owned())
            else {
                continue;
            };
            let public = if path.starts_with("/api/") || path.starts_with("/docs") {
                path.to_owned()
            } else {
                format!("/v1{path}")
            };
            routes.insert((method.to_uppercase(), public));
        }
    }
    // The document and its viewer are not operations of the API.
    routes.retain(|(_, path)| path != "/v1/openapi.json" && !path.starts_with("/docs"));
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_every_route() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without a key");
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let in_code = routes_in_code();
    assert!(
        in_code.len() > 30,
        "the route tables were not read: {in_code:?}"
    );
    let documented = documented(&doc);
    let undocumented: BTreeSet<&(String, String)> = in_code.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "every route must be documented (`#[utoipa::path]`, listed in `ApiDoc`): {undocumented:?}"
    );

    // And every documented operation is one the gateway answers (not route_not_found).
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "tkt_01J9X6Z3R5T7V9X1Z3B5D7F9H1")
            .replace("{response}", "rsp_01J9X6Z3R5T7V9X1Z3B5D7F9H1")
            .replace("{itv}", "itv_01J9X6Z3R5T7V9X1Z3B5D7F9H1")
            .replace("{name}", "refund")
            .replace("{field_id}", "fld_01J9X6Z3R5T7V9X1Z3B5D7F9H1")
            .replace("{kind}", "private")
            .replace("{priority}", "high");
        let answer = app
            .client
            .request(
                method.parse().unwrap(),
                format!("{}{concrete}", app.address),
            )
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["code"], "route_not_found",
            "{method} {path} is documented but not served"
        );
        assert_eq!(status, 401, "{method} {path} without a key: {body}");
    }

    // Shared conventions reached every operation.
    let create = &doc["paths"]["/v1/tickets"]["post"];
    let params: Vec<&str> = create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"Idempotency-Key"), "{params:?}");
    assert!(create["responses"]["201"]["headers"]["Location"].is_object());
    assert!(create["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert_eq!(
        create["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert!(
        doc["paths"]["/v1/tickets/{id}"]["get"]["responses"]["200"]["headers"]["ETag"].is_object()
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "code", "errors"] {
        assert!(problem.get(member).is_some(), "Problem lacks {member}");
    }

    // The committed copy is the served one (`make openapi` keeps them equal).
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(committed).unwrap()).unwrap();
    assert_eq!(
        committed, doc,
        "openapi/openapi.json is stale: run `make openapi`"
    );

    app.teardown().await;
}

/// Client generators name their methods after operationIds: a shared one makes two
/// methods collide, and a bare `create` or `get` says nothing once outside its tag.
#[test]
fn every_operation_has_its_own_descriptive_operation_id() {
    let doc = api_gateway::openapi::document();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let route = format!("{} {path}", method.to_uppercase());
            let Some(id) = operation["operationId"].as_str() else {
                problems.push(format!("{route} has no operationId"));
                continue;
            };
            // A verb and what it acts on, in snake case: `get_webhook_endpoint`.
            let words: Vec<&str> = id.split('_').collect();
            let snake = words.iter().all(|word| {
                !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
            if words.len() < 2 || !snake {
                problems.push(format!(
                    "{route}: operationId {id:?} is not a verb and its object in snake case"
                ));
            }
            if let Some(first) = seen.insert(id.to_owned(), route.clone()) {
                problems.push(format!(
                    "operationId {id:?} is used by both {first} and {route}"
                ));
            }
        }
    }
    assert!(seen.len() > 30, "the operations were not read: {seen:?}");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn docs_is_a_swagger_ui_with_only_local_assets() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();

    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            assets.push(part.split('"').next().unwrap().to_owned());
        }
    }
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")),
        "{assets:?}"
    );
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui.css")),
        "{assets:?}"
    );
    for asset in &assets {
        assert!(
            !asset.contains("://") && !asset.starts_with("//") && !asset.starts_with('/'),
            "{asset} is not a relative URL"
        );
        // Relative to `/docs`: resolved against the site root.
        let answer = app
            .client
            .get(format!("{}/{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        let body = answer.text().await.unwrap();
        if asset.ends_with("init.js") {
            assert!(body.contains("url: \"v1/openapi.json\""), "{body}");
            assert!(
                body.contains("validatorUrl: null"),
                "the validator badge calls out"
            );
        }
    }
    let unknown = app
        .client
        .get(format!("{}/docs/nothing.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    app.teardown().await;
}

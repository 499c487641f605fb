//! The OpenAPI 3.1 document of the public API, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types. What every operation
//! shares (authentication, rate limits, problem+json, idempotency) is added here in one
//! pass rather than repeated on each handler. Served at `GET /v1/openapi.json`;
//! `openapi/openapi.json` is the committed copy (`make openapi`, checked by `make test`).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::{docs, epilogs, events, interventions, keys, tickets, webhooks};

/// The annotated operations and the schemas no operation names directly.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loopdesk API",
        version = "1",
        description = "Helpdesk tickets with human-in-the-loop interventions. Authenticate \
            with `Authorization: Bearer ld_test_<jwt>` (test data) or `ld_live_<jwt>`. Every \
            mutation takes an `Idempotency-Key`. Errors are RFC 9457 problem+json with a \
            stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        tickets::create::create_ticket,
        tickets::read::list_tickets,
        tickets::read::get_ticket,
        tickets::update::update_ticket,
        tickets::update::delete_ticket,
        tickets::responses::add_response,
        tickets::responses::list_responses,
        tickets::responses::get_response,
        tickets::responses::add_audit,
        tickets::transitions::transition,
        tickets::transitions::history,
        tickets::sla::list_policies,
        tickets::sla::put_policy,
        tickets::compat::create_ticket,
        keys::create_key,
        keys::list_keys,
        keys::revoke_key,
        events::list_events,
        webhooks::read::list_endpoints,
        webhooks::read::get_endpoint,
        webhooks::read::list_deliveries,
        webhooks::read::list_attempts,
        webhooks::write::create_endpoint,
        webhooks::write::update_endpoint,
        webhooks::write::delete_endpoint,
        webhooks::write::rotate_secret,
        webhooks::write::recover,
        webhooks::write::redeliver,
        interventions::write::create,
        interventions::read::list,
        interventions::read::get,
        interventions::write::update,
        interventions::write::replace_fields,
        interventions::write::add_field,
        interventions::write::reorder_fields,
        interventions::write::update_field,
        interventions::write::remove_field,
        interventions::read::templates,
        interventions::write::put_template,
        interventions::write::delete_template,
        interventions::remote_token::generate,
        interventions::read::panel,
        interventions::submit::submit,
        epilogs::list_jobs,
        epilogs::get_job,
        epilogs::retry_job,
    ),
    components(schemas(docs::ProblemBody, docs::ProblemField)),
    tags(
        (name = "tickets", description = "Tickets, their threads and status."),
        (name = "sla", description = "Service-level targets per priority."),
        (name = "webhooks", description = "Webhook endpoints and their deliveries."),
        (name = "events", description = "The published `ticket.*` events."),
        (name = "interventions", description = "Intervention definitions, ticket panels and submissions."),
        (name = "epilogs", description = "Epilog jobs: the calls to a remote system after a submission, and their retries."),
        (name = "api_keys", description = "API keys of the caller's tenant and env."),
        (name = "compatibility", description = "The seed guide's original API shape."),
    ),
)]
pub struct ApiDoc;

/// The complete document, as served and committed.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        // Serializing plain data cannot fail; an empty object would show up in tests.
        tracing::error!(error = %e, "OpenAPI document did not serialize");
        Value::Null
    });
    apply_conventions(&mut doc);
    doc
}

/// The document as pretty JSON with a trailing newline: the committed file's bytes.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// `GET /v1/openapi.json` (no authentication).
pub async fn serve() -> HttpResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(BODY.get_or_init(pretty).as_str())
}

/// What every operation shares, written once.
fn apply_conventions(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ld_test_<jwt> | ld_live_<jwt>",
            "description": "An API key: `ld_test_` keys see test data, `ld_live_` keys live \
                data. The JWT names the tenant and the abilities it grants.",
        }
    });
    doc["security"] = json!([{ "bearer": [] }]);
    doc["components"]["headers"] = json!({
        "RateLimit-Limit": header("Requests this key may make per window.", "integer"),
        "RateLimit-Remaining": header("Requests left in the window.", "integer"),
        "RateLimit-Reset": header("Seconds until the window resets.", "integer"),
        "Retry-After": header("Seconds to wait before retrying.", "integer"),
        "Idempotent-Replayed": header(
            "`true` when this answer is a replay of the key's first.",
            "string",
        ),
    });
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            if let Some(operation) = operation.as_object_mut() {
                complete_operation(operation);
            }
        }
    }
}

/// Adds the shared answers and headers to one operation.
fn complete_operation(operation: &mut Map<String, Value>) {
    let keyed = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
    let has_body = operation.contains_key("requestBody");
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };

    let mut shared = vec![
        (
            "401",
            "`unauthenticated`: no key, or a malformed, expired or revoked one.",
        ),
        (
            "403",
            "`missing_ability`: the key lacks the ability this operation needs.",
        ),
        (
            "429",
            "`rate_limited`: this key's budget is spent; retry after `Retry-After` seconds.",
        ),
        ("500", "`internal_error`: nothing internal is disclosed."),
        (
            "503",
            "`service_unavailable`: a dependency is down; retry after `Retry-After` seconds.",
        ),
    ];
    if keyed {
        shared.push(("400", "`idempotency_key_missing` or `idempotency_key_invalid`: every mutation takes an `Idempotency-Key`."));
        shared.push((
            "409",
            "`idempotency_key_reused` (same key, other request) or `idempotency_key_in_use` \
             (the first is still running; retry after `Retry-After`).",
        ));
    }
    if has_body {
        shared.push(("400", "`malformed_json`: the body is not JSON."));
        shared.push(("413", "`body_too_large`: the body is over the limit."));
        shared.push(("415", "`unsupported_media_type`: send `application/json`."));
    }
    for (status, description) in shared {
        match responses.get_mut(status) {
            // Several reasons for one status: one response naming them all.
            Some(existing) => {
                let before = existing["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if !before.contains(description) {
                    existing["description"] = Value::String(format!("{before} Or {description}"));
                }
            }
            None => {
                responses.insert(status.to_owned(), json!({ "description": description }));
            }
        }
    }

    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(headers) = headers else { continue };
        let mut shared = vec!["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];
        if matches!(status.as_str(), "409" | "429" | "503") {
            shared.push("Retry-After");
        }
        if keyed && status.starts_with('2') {
            shared.push("Idempotent-Replayed");
        }
        for name in shared {
            headers.insert(
                name.to_owned(),
                json!({ "$ref": format!("#/components/headers/{name}") }),
            );
        }
        let failure = status.starts_with('4') || status.starts_with('5');
        if failure && !response.contains_key("content") {
            response.insert(
                "content".to_owned(),
                json!({ "application/problem+json": {
                    "schema": { "$ref": "#/components/schemas/Problem" }
                }}),
            );
        }
    }
}

fn header(description: &str, kind: &str) -> Value {
    json!({ "description": description, "schema": { "type": kind } })
}

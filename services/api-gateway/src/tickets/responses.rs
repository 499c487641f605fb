//! The thread routes: `POST|GET /v1/tickets/{id}/responses`,
//! `GET /v1/tickets/{id}/responses/{rsp}` and
//! `POST /v1/tickets/{id}/responses/{rsp}/audit`. There is no route that edits or
//! removes a response: threads are append-only.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    FieldError,
    commands::{AddAudit, AddResponse, TicketCommand, TicketReply},
    ids::{MessageId, ResponseId},
    responses::{Attachment, Author, AuthorKind, NewResponse, ResponseKind},
};
use loopdesk_web::{JsonBody, Problem};
use serde::Deserialize;

use crate::{
    caller::Caller,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{
        command::{self, PersonInput, PersonKind, actor_of, ticket_id},
        fields::Checks,
    },
};

/// Longest response or audit body, in characters.
const BODY_MAX: usize = 65_536;
/// Most attachments on one response.
const ATTACHMENTS_MAX: usize = 20;
const NAME_MAX: usize = 255;
const URL_MAX: usize = 2048;

/// `POST /v1/tickets/{id}/responses` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRequest {
    kind: Option<ResponseKind>,
    author: Option<PersonInput>,
    body: Option<String>,
    attachments: Option<Vec<AttachmentInput>>,
}

/// An attachment by reference.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    url: String,
    name: String,
    size: i64,
    content_type: String,
}

/// `POST .../audit` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    body: Option<String>,
}

/// Paging of `GET .../responses`.
#[derive(Debug, Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

fn response_location(ticket: &str, response: &str) -> String {
    format!("/v1/tickets/{ticket}/responses/{response}")
}

/// `POST /v1/tickets/{id}/responses`.
#[utoipa::path(
    post, path = "/v1/tickets/{id}/responses", operation_id = "add_ticket_response", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), crate::docs::IdempotencyKey),
    request_body = ResponseRequest,
    responses(
        (status = 201, description = "Appended to the thread.", body = loopdesk_contracts::responses::Response, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: will be appended once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such ticket."),
        (status = 409, description = "`ticket_closed`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn add_response(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: JsonBody<ResponseRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let ticket = ticket_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let new = validate(body.value, &caller).map_err(Problem::validation)?;
    let actor = actor_of(
        &caller,
        match new.author.kind {
            AuthorKind::Customer => PersonKind::Customer,
            _ => PersonKind::Agent,
        },
        &new.author.id,
    );
    let t = ticket.to_string();
    command::run(
        &state,
        &caller,
        &keyed,
        new.id.to_string(),
        |resource| {
            let mut response = new;
            // A takeover of a stalled attempt reuses that attempt's response id.
            response.id = resource.parse().map_err(|_| Problem::internal())?;
            Ok(TicketCommand::AddResponse(AddResponse {
                ticket_id: ticket,
                response,
                actor,
            }))
        },
        |reply| match reply {
            TicketReply::Response { response } => {
                let at = response_location(&t, &response.id.to_string());
                Answer::json(StatusCode::CREATED, &response, Some(at))
            }
            other => command::unexpected(&other),
        },
        |resource| response_location(&ticket.to_string(), resource),
    )
    .await
}

fn validate(input: ResponseRequest, caller: &Caller) -> Result<NewResponse, Vec<FieldError>> {
    let mut checks = Checks::default();
    let kind = match input.kind {
        Some(ResponseKind::System) => {
            checks.fail("kind", "must be `reply`, `note` or `message`");
            ResponseKind::System
        }
        Some(kind) => kind,
        None => {
            checks.fail("kind", "is required (`reply`, `note` or `message`)");
            ResponseKind::Note
        }
    };
    // Replies and notes are support's; messages are the customer's.
    let wanted = if kind == ResponseKind::Message {
        PersonKind::Customer
    } else {
        PersonKind::Agent
    };
    let author = match input.author {
        Some(a) => {
            if a.kind != wanted {
                checks.fail(
                    "author.type",
                    format!(
                        "must be `{}` for a `{}`",
                        if wanted == PersonKind::Agent {
                            "agent"
                        } else {
                            "customer"
                        },
                        kind.as_str()
                    ),
                );
            }
            let id = checks.line("author.id", Some(&a.id), NAME_MAX);
            let name = a
                .name
                .as_deref()
                .map(|n| checks.text("author.name", Some(n.trim()), NAME_MAX))
                .filter(|n| !n.is_empty());
            Author {
                kind: if wanted == PersonKind::Agent {
                    AuthorKind::Agent
                } else {
                    AuthorKind::Customer
                },
                id,
                name,
            }
        }
        None if wanted == PersonKind::Agent => Author {
            kind: AuthorKind::Agent,
            id: caller.claims.sub.clone(),
            name: None,
        },
        None => {
            checks.fail("author", "is required for a customer `message`");
            Author {
                kind: AuthorKind::Customer,
                id: String::new(),
                name: None,
            }
        }
    };
    let body = input.body.unwrap_or_default();
    if body.trim().is_empty() {
        checks.fail("body", "is required and must not be empty");
    } else if body.chars().count() > BODY_MAX {
        checks.fail("body", format!("must be at most {BODY_MAX} characters"));
    }
    let attachments = attachments(&mut checks, input.attachments.unwrap_or_default());
    checks.finish(NewResponse {
        id: ResponseId::generate(),
        kind,
        author,
        body,
        attachments,
    })
}

fn attachments(checks: &mut Checks, input: Vec<AttachmentInput>) -> Vec<Attachment> {
    if input.len() > ATTACHMENTS_MAX {
        checks.fail(
            "attachments",
            format!("must have at most {ATTACHMENTS_MAX} attachments"),
        );
        return Vec::new();
    }
    input
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let field = |f: &str| format!("attachments[{i}].{f}");
            let url = a.url.trim().to_owned();
            if !is_http_url(&url) || url.len() > URL_MAX {
                checks.fail(
                    &field("url"),
                    format!("must be an http(s) URL of at most {URL_MAX} characters"),
                );
            }
            let name = checks.line(&field("name"), Some(&a.name), NAME_MAX);
            if a.size < 0 {
                checks.fail(&field("size"), "must be at least 0");
            }
            let content_type = a.content_type.trim().to_lowercase();
            if !is_media_type(&content_type) {
                checks.fail(
                    &field("content_type"),
                    "must be a media type like `application/pdf`",
                );
            }
            Attachment {
                url,
                name,
                size: a.size,
                content_type,
            }
        })
        .collect()
}

/// `http://` or `https://`, a host, no whitespace: the file is linked, never fetched here.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn is_media_type(value: &str) -> bool {
    let Some((kind, sub)) = value.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    token(kind) && token(sub.split(';').next().unwrap_or("").trim())
}

/// `GET /v1/tickets/{id}/responses`: the thread, oldest first.
#[utoipa::path(
    get, path = "/v1/tickets/{id}/responses", operation_id = "list_ticket_responses", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), PageParams),
    responses(
        (status = 200, description = "The thread, one page.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::responses::Response>),
        (status = 404, description = "No such ticket."),
        (status = 422, description = "`limit` is out of range."),
    )
)]
pub async fn list_responses(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let ticket = ticket_id(&id)?;
    if params.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        return Err(Problem::validation(vec![FieldError::new(
            "limit",
            "must be between 1 and 100",
        )]));
    }
    state
        .tickets
        .get(
            &caller.scope(),
            &format!("/internal/v1/tickets/{ticket}/responses"),
            &params.into_inner(),
        )
        .await
}

/// `GET /v1/tickets/{id}/responses/{rsp}`.
#[utoipa::path(
    get, path = "/v1/tickets/{id}/responses/{response}", operation_id = "get_ticket_response", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), ("response" = String, Path, description = "The response. A `rsp_` id.")),
    responses(
        (status = 200, description = "The response with its audit entries.", body = loopdesk_contracts::responses::Response),
        (status = 404, description = "No such ticket or response."),
    )
)]
pub async fn get_response(
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let ticket = ticket_id(&path.0)?;
    let response: ResponseId = path.1.parse().map_err(|_| Problem::not_found("response"))?;
    let path = format!("/internal/v1/tickets/{ticket}/responses/{response}");
    state.tickets.relay(&caller, &path).await
}

/// `POST /v1/tickets/{id}/responses/{rsp}/audit`: appends an audit entry.
#[utoipa::path(
    post, path = "/v1/tickets/{id}/responses/{response}/audit", operation_id = "add_response_audit", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), ("response" = String, Path, description = "The response. A `rsp_` id."), crate::docs::IdempotencyKey),
    request_body = AuditRequest,
    responses(
        (status = 201, description = "The audit entry.", body = loopdesk_contracts::responses::AuditEntry, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: will be appended once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such ticket or response."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn add_audit(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: JsonBody<AuditRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let ticket = ticket_id(&path.0)?;
    let response: ResponseId = path.1.parse().map_err(|_| Problem::not_found("response"))?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let mut checks = Checks::default();
    let text = body.value.body.unwrap_or_default();
    if text.trim().is_empty() {
        checks.fail("body", "is required and must not be empty");
    } else if text.chars().count() > BODY_MAX {
        checks.fail("body", format!("must be at most {BODY_MAX} characters"));
    }
    let text = checks.finish(text).map_err(Problem::validation)?;
    let actor = caller.actor();
    let location = response_location(&ticket.to_string(), &response.to_string());
    let queued_location = location.clone();
    command::run(
        &state,
        &caller,
        &keyed,
        format!("aud_{}", MessageId::generate().ulid()),
        |entry_id| {
            Ok(TicketCommand::AddAudit(AddAudit {
                ticket_id: ticket,
                response_id: response,
                entry_id: entry_id.to_owned(),
                body: text,
                actor,
            }))
        },
        |reply| match reply {
            TicketReply::Audit { entry } => {
                Answer::json(StatusCode::CREATED, &entry, Some(location))
            }
            other => command::unexpected(&other),
        },
        |_| queued_location,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_urls_and_media_types_pass() {
        assert!(is_http_url("https://files.example.com/a.pdf"));
        assert!(is_http_url("http://example.com"));
        for bad in [
            "ftp://x.com/a",
            "https://",
            "javascript:alert(1)",
            "https://a b.com",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert!(is_media_type("application/pdf"));
        assert!(is_media_type("text/plain; charset=utf-8"));
        assert!(!is_media_type("pdf"));
    }
}

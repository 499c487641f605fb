//! Applying `intervention.create` (seed §5.2): the templates `{name}.private` (required)
//! and `{name}.public` are rendered with the data bag, then by `(name, uid)`:
//!
//! - a new `uid`: `ticket.create` for the pre-assigned ticket id, in the definition's
//!   queue, with the rendered templates as its initial responses, and a new payload;
//! - an open payload: its data bag is replaced and the templates are posted again;
//! - an accepted last payload: a new payload on the same ticket, templates posted;
//! - either way a `solved` ticket is reopened, and a `closed` one gets a follow-up
//!   ticket (`follow_up_of`, the pre-assigned id) that the open payload moves to (or
//!   the new payload opens on).
//!
//! Everything commits in one transaction with the inbox record; ticket changes leave
//! through the outbox as commands.

use std::collections::BTreeMap;

use chrono::Utc;
use loopdesk_contracts::{
    DomainError, FieldError, Scope,
    commands::{CreateTicket, TicketCommand},
    ids::{InterventionPayloadId, TicketId},
    interventions::{
        CreateInterventionTicket, InterventionCreated, Template, TemplateKind, UsedIntervention,
    },
    responses::NewResponse,
    tickets::{NewTicket, Priority, Status},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, Pool, claim};

use crate::{
    apply::ApplyError,
    definitions::{
        CONSUMER,
        store::{self as definitions, DefinitionRow},
    },
    flow::{ticket_commands as commands, ticket_status},
    payloads::store::{self as payloads, PayloadRow},
    render,
};

const MAX_UID: usize = 255;

/// 422 `unknown_intervention`.
pub fn unknown_intervention(name: &str) -> ApplyError {
    let mut e = DomainError::new(
        422,
        "unknown_intervention",
        "Unknown intervention",
        format!("there is no intervention named `{name}`"),
    );
    e.errors.push(FieldError::new(
        "intervention",
        "must name a defined intervention",
    ));
    ApplyError::rejected(e)
}

/// 422 `intervention_template_missing`: `{name}.private` is required before use.
pub fn template_missing(name: &str) -> ApplyError {
    ApplyError::rejected(DomainError::new(
        422,
        "intervention_template_missing",
        "Intervention template missing",
        format!("the template `{name}.private` is required before the intervention can be used"),
    ))
}

fn template_failed(name: &str, kind: TemplateKind, e: &render::TemplateError) -> ApplyError {
    ApplyError::rejected(DomainError::new(
        422,
        "intervention_template_failed",
        "Intervention template failed",
        format!("`{name}.{}` could not be rendered: {e}", kind.as_str()),
    ))
}

/// Creates or refreshes the intervention ticket of `command.uid`.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: CreateInterventionTicket,
) -> Result<InterventionCreated, ApplyError> {
    let mut errors = Vec::new();
    if command.uid.trim().is_empty() || command.uid.len() > MAX_UID {
        errors.push(FieldError::new(
            "uid",
            format!("must be 1 to {MAX_UID} characters"),
        ));
    }
    if !command.data.is_object() {
        errors.push(FieldError::new("data", "must be a JSON object"));
    }
    if !errors.is_empty() {
        return Err(ApplyError::invalid(errors));
    }
    loopdesk_storage::transaction(pool, async |conn| {
        let first = claim(conn, CONSUMER, &request.message_id).await?;
        let name = command.intervention.as_str();
        let def = definitions::find_row(conn, scope, name, false)
            .await?
            .ok_or_else(|| unknown_intervention(name))?;
        let templates = definitions::templates(conn, scope, name).await?;
        let source = |kind| templates.iter().find(|t: &&Template| t.kind == kind);
        let Some(private) = source(TemplateKind::Private) else {
            return Err(template_missing(name));
        };
        let public = source(TemplateKind::Public);
        let used = UsedIntervention {
            private: true,
            public: public.is_some(),
            final_template: source(TemplateKind::Final).is_some(),
        };
        let latest = payloads::latest_of_uid(conn, scope, name, &command.uid).await?;
        if !first {
            // Applied before (the reply was lost): answer from what is stored.
            let row =
                latest.ok_or_else(|| ApplyError::failed("an applied create left no payload"))?;
            return Ok(InterventionCreated {
                created_ticket: row.ticket_id == command.ticket_id.to_string(),
                ticket_id: parse_ticket(&row.ticket_id)?,
                payload_id: parse_payload(&row.id)?,
                reopened: false,
                follow_up_of: None,
                used_intervention: used,
            });
        }
        let render = |t: &Template| {
            render::render(t.kind, &t.body, &command.data)
                .map_err(|e| template_failed(name, t.kind, &e))
        };
        let private = commands::system_response(false, render(private)?);
        let mut responses = vec![private];
        if let Some(public) = public {
            let mut reply = commands::system_response(true, render(public)?);
            reply.id = commands::id_after(responses[0].id);
            responses.push(reply);
        }
        let mut created = match latest {
            None => {
                let payload = new_payload(conn, scope, &command, command.ticket_id).await?;
                open_ticket(conn, scope, &def, &command, responses, None, request).await?;
                InterventionCreated {
                    ticket_id: command.ticket_id,
                    payload_id: payload,
                    created_ticket: true,
                    reopened: false,
                    follow_up_of: None,
                    used_intervention: used,
                }
            }
            Some(row) => resend(conn, scope, &def, &command, row, responses, request).await?,
        };
        created.used_intervention = used;
        Ok(created)
    })
    .await
}

/// The same `uid` again: refresh or open a payload, post the templates again, reopen a
/// solved ticket or follow up on a closed one.
async fn resend(
    conn: &mut Conn,
    scope: &Scope,
    def: &DefinitionRow,
    command: &CreateInterventionTicket,
    row: PayloadRow,
    responses: Vec<NewResponse>,
    cause: &Envelope,
) -> Result<InterventionCreated, ApplyError> {
    let now = Utc::now();
    let ticket = parse_ticket(&row.ticket_id)?;
    // Unknown (the ticket's events have not arrived yet) means it is still new.
    let status = ticket_status::status_of(conn, scope, &ticket).await?;
    if status == Some(Status::Closed) {
        let follow_up = command.ticket_id;
        let payload_id = if row.accepted {
            new_payload(conn, scope, command, follow_up).await?
        } else {
            payloads::move_to(conn, &row.id, &follow_up, &command.data, now).await?;
            parse_payload(&row.id)?
        };
        open_ticket(conn, scope, def, command, responses, Some(ticket), cause).await?;
        return Ok(InterventionCreated {
            ticket_id: follow_up,
            payload_id,
            created_ticket: true,
            reopened: false,
            follow_up_of: Some(ticket),
            used_intervention: UsedIntervention::default(),
        });
    }
    let payload_id = if row.accepted {
        new_payload(conn, scope, command, ticket).await?
    } else {
        payloads::set_data(conn, &row.id, &command.data, now).await?;
        parse_payload(&row.id)?
    };
    for response in responses {
        commands::add_response(
            conn,
            scope,
            ticket,
            response,
            commands::system_actor(),
            cause,
        )
        .await?;
    }
    let reopened = status == Some(Status::Solved);
    if reopened {
        commands::reopen(conn, scope, ticket, cause).await?;
    }
    Ok(InterventionCreated {
        ticket_id: ticket,
        payload_id,
        created_ticket: false,
        reopened,
        follow_up_of: None,
        used_intervention: UsedIntervention::default(),
    })
}

/// Inserts a new open payload of `command` on `ticket`.
async fn new_payload(
    conn: &mut Conn,
    scope: &Scope,
    command: &CreateInterventionTicket,
    ticket: TicketId,
) -> Result<InterventionPayloadId, ApplyError> {
    let id = InterventionPayloadId::generate();
    let now = Utc::now();
    payloads::insert(
        conn,
        &PayloadRow {
            id: id.to_string(),
            tenant: scope.tenant.as_str().to_owned(),
            env: scope.env.as_str().to_owned(),
            ticket_id: ticket.to_string(),
            intervention: command.intervention.clone(),
            uid: command.uid.clone(),
            accepted: false,
            data: command.data.clone(),
            created_at: now,
            updated_at: now,
            accepted_at: None,
        },
    )
    .await?;
    Ok(id)
}

/// Asks the ticket service for the ticket `command.ticket_id` with `responses` as its
/// initial responses, and starts tracking its status.
async fn open_ticket(
    conn: &mut Conn,
    scope: &Scope,
    def: &DefinitionRow,
    command: &CreateInterventionTicket,
    responses: Vec<NewResponse>,
    follow_up_of: Option<TicketId>,
    cause: &Envelope,
) -> Result<(), ApplyError> {
    let metadata = BTreeMap::from([
        ("intervention".to_owned(), command.intervention.clone()),
        ("uid".to_owned(), command.uid.clone()),
    ]);
    let ticket = NewTicket {
        id: command.ticket_id,
        subject: command.subject.clone().unwrap_or_else(|| def.title.clone()),
        description: String::new(),
        requester: command.requester.clone(),
        priority: Priority::Normal,
        // Ticket queues are lowercase labels.
        queue: def.queue_name.trim().to_lowercase(),
        tags: Vec::new(),
        source: ticket_status::TICKET_SOURCE.to_owned(),
        metadata,
        follow_up_of,
    };
    let create = TicketCommand::Create(CreateTicket {
        ticket,
        actor: command.actor.clone(),
        initial_responses: responses,
    });
    commands::send(conn, scope, &create, cause).await?;
    ticket_status::track(conn, scope, &command.ticket_id).await?;
    Ok(())
}

fn parse_ticket(raw: &str) -> Result<TicketId, ApplyError> {
    raw.parse()
        .map_err(|_| ApplyError::failed(format!("stored ticket id {raw}")))
}

fn parse_payload(raw: &str) -> Result<InterventionPayloadId, ApplyError> {
    raw.parse()
        .map_err(|_| ApplyError::failed(format!("stored payload id {raw}")))
}

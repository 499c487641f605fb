//! The intervention service's queue messages: commands, replies and events.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ADD_FIELD, CREATE_INTERVENTION_TICKET, CreateInterventionTicket, DEFINE_INTERVENTION,
    DELETE_TEMPLATE, FieldPatch, FieldSpec, Intervention, InterventionCreated, InterventionPayload,
    OPEN_PAYLOAD, PUT_TEMPLATE, REMOVE_FIELD, REORDER_FIELDS, REPLACE_FIELDS, SUBMIT_INTERVENTION,
    SealedInterventionPatch, SealedNewIntervention, SubmitIntervention, TemplateKind, UPDATE_FIELD,
    UPDATE_INTERVENTION,
};
use crate::{
    actor::Actor,
    ids::{EventId, FieldId, InterventionPayloadId, ResponseId, TicketId},
    problem::DomainError,
    tenancy::{Env, Tenant},
};

/// Every command the intervention service takes (schema version 2: since then the remote's
/// bearer token crosses the broker only sealed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum InterventionCommand {
    /// Create a definition.
    #[serde(rename = "intervention.define")]
    Define {
        /// The definition, its bearer token sealed.
        definition: SealedNewIntervention,
        /// Who asked.
        actor: Actor,
    },
    /// Change a definition's settings.
    #[serde(rename = "intervention.update")]
    Update {
        /// Which one.
        name: String,
        /// What changes, a new bearer token sealed.
        patch: SealedInterventionPatch,
        /// Who asked.
        actor: Actor,
    },
    /// Replace every field with this ordered list (ordinals 0..n).
    #[serde(rename = "intervention.fields.replace")]
    ReplaceFields {
        /// Which definition.
        name: String,
        /// The new fields, each with the id the gateway chose.
        fields: Vec<NewField>,
        /// Who asked.
        actor: Actor,
    },
    /// Add one field, at the end or at `ordinal`.
    #[serde(rename = "intervention.fields.add")]
    AddField {
        /// Which definition.
        name: String,
        /// The field.
        field: NewField,
        /// Where; the end when absent.
        #[serde(default)]
        ordinal: Option<i32>,
        /// Who asked.
        actor: Actor,
    },
    /// Change one field.
    #[serde(rename = "intervention.fields.update")]
    UpdateField {
        /// Which definition.
        name: String,
        /// Which field.
        field_id: FieldId,
        /// What changes.
        patch: FieldPatch,
        /// Who asked.
        actor: Actor,
    },
    /// Remove one field.
    #[serde(rename = "intervention.fields.remove")]
    RemoveField {
        /// Which definition.
        name: String,
        /// Which field.
        field_id: FieldId,
        /// Who asked.
        actor: Actor,
    },
    /// Put the fields in this order (a permutation of the current ids).
    #[serde(rename = "intervention.fields.reorder")]
    ReorderFields {
        /// Which definition.
        name: String,
        /// Every field id, in the new order.
        field_ids: Vec<FieldId>,
        /// Who asked.
        actor: Actor,
    },
    /// Create or replace a template (compiled first: a syntax error is refused).
    #[serde(rename = "intervention.template.put")]
    PutTemplate {
        /// Which definition.
        name: String,
        /// Which template.
        kind: TemplateKind,
        /// Its source.
        body: String,
        /// Who asked.
        actor: Actor,
    },
    /// Delete the public or final template.
    #[serde(rename = "intervention.template.delete")]
    DeleteTemplate {
        /// Which definition.
        name: String,
        /// Which template.
        kind: TemplateKind,
        /// Who asked.
        actor: Actor,
    },
    /// Open a payload of `intervention` on a ticket (the create flow's step; tests).
    #[serde(rename = "intervention.payload.open")]
    OpenPayload {
        /// The id chosen by the sender (stable across retries).
        id: InterventionPayloadId,
        /// The ticket.
        ticket_id: TicketId,
        /// The intervention's name.
        intervention: String,
        /// The remote's correlation id.
        uid: String,
        /// The data bag as the remote sent it.
        data: serde_json::Value,
        /// Who asked.
        actor: Actor,
    },
    /// Create (or refresh) the intervention ticket of a remote's `uid`.
    #[serde(rename = "intervention.create")]
    Create(CreateInterventionTicket),
    /// Staff submit a payload.
    #[serde(rename = "intervention.submit")]
    Submit(SubmitIntervention),
}

impl InterventionCommand {
    /// The command name: AMQP `type` and routing key.
    pub fn name(&self) -> &'static str {
        match self {
            InterventionCommand::Define { .. } => DEFINE_INTERVENTION,
            InterventionCommand::Update { .. } => UPDATE_INTERVENTION,
            InterventionCommand::ReplaceFields { .. } => REPLACE_FIELDS,
            InterventionCommand::AddField { .. } => ADD_FIELD,
            InterventionCommand::UpdateField { .. } => UPDATE_FIELD,
            InterventionCommand::RemoveField { .. } => REMOVE_FIELD,
            InterventionCommand::ReorderFields { .. } => REORDER_FIELDS,
            InterventionCommand::PutTemplate { .. } => PUT_TEMPLATE,
            InterventionCommand::DeleteTemplate { .. } => DELETE_TEMPLATE,
            InterventionCommand::OpenPayload { .. } => OPEN_PAYLOAD,
            InterventionCommand::Create(_) => CREATE_INTERVENTION_TICKET,
            InterventionCommand::Submit(_) => SUBMIT_INTERVENTION,
        }
    }
}

/// A field to store, with the id the gateway chose for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewField {
    /// `fld_` id.
    pub id: FieldId,
    /// The field.
    #[serde(flatten)]
    pub spec: FieldSpec,
}

/// The intervention service's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InterventionReply {
    /// The definition after the change.
    Intervention {
        /// It.
        intervention: Box<Intervention>,
    },
    /// The payload after opening it.
    Payload {
        /// It.
        payload: Box<InterventionPayload>,
    },
    /// An `intervention.create` was applied (or had been).
    Created(InterventionCreated),
    /// An `intervention.submit` was applied (or had been).
    Submitted {
        /// The payload with its new data bag.
        payload: Box<InterventionPayload>,
        /// The initiating response.
        response_id: ResponseId,
    },
    /// Refused; nothing changed.
    Rejected {
        /// Why.
        error: DomainError,
    },
}

/// An `intervention.*` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterventionEvent {
    /// `evt_` id.
    pub id: EventId,
    /// Event type, e.g. `intervention.defined`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was committed.
    pub created_at: DateTime<Utc>,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// What happened.
    pub data: InterventionEventData,
}

/// The body of an intervention event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterventionEventData {
    /// The definition after the change.
    pub intervention: Intervention,
    /// Who made the change.
    pub actor: Actor,
}

//! Interventions (seed 000, DESIGN.md §7): the definitions the intervention service
//! owns (fields, templates, remote settings), the commands the gateway sends it, its
//! replies (in `messages`), its read models (the library and the ticket panel) and its
//! events.

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ids::{FieldId, InterventionPayloadId, TicketId};

mod flow;
mod messages;
mod sealed;

pub use flow::{
    CreateInterventionTicket, InterventionCreated, SubmitIntervention, SubmittedResponse,
    UsedIntervention,
};
pub use messages::{
    InterventionCommand, InterventionEvent, InterventionEventData, InterventionReply, NewField,
};
pub use sealed::{SealedInterventionPatch, SealedNewIntervention, SealedRemoteToken};

/// Command name of [`InterventionCommand::Define`].
pub const DEFINE_INTERVENTION: &str = "intervention.define";
/// Command name of [`InterventionCommand::Update`].
pub const UPDATE_INTERVENTION: &str = "intervention.update";
/// Command name of [`InterventionCommand::ReplaceFields`].
pub const REPLACE_FIELDS: &str = "intervention.fields.replace";
/// Command name of [`InterventionCommand::AddField`].
pub const ADD_FIELD: &str = "intervention.fields.add";
/// Command name of [`InterventionCommand::UpdateField`].
pub const UPDATE_FIELD: &str = "intervention.fields.update";
/// Command name of [`InterventionCommand::RemoveField`].
pub const REMOVE_FIELD: &str = "intervention.fields.remove";
/// Command name of [`InterventionCommand::ReorderFields`].
pub const REORDER_FIELDS: &str = "intervention.fields.reorder";
/// Command name of [`InterventionCommand::PutTemplate`].
pub const PUT_TEMPLATE: &str = "intervention.template.put";
/// Command name of [`InterventionCommand::DeleteTemplate`].
pub const DELETE_TEMPLATE: &str = "intervention.template.delete";
/// Command name of [`InterventionCommand::OpenPayload`].
pub const OPEN_PAYLOAD: &str = "intervention.payload.open";
/// Command name of [`InterventionCommand::Create`].
pub const CREATE_INTERVENTION_TICKET: &str = "intervention.create";
/// Command name of [`InterventionCommand::Submit`].
pub const SUBMIT_INTERVENTION: &str = "intervention.submit";

/// Every command name the intervention service consumes (its queue's bindings).
pub const ALL_INTERVENTION_COMMANDS: [&str; 12] = [
    DEFINE_INTERVENTION,
    UPDATE_INTERVENTION,
    REPLACE_FIELDS,
    ADD_FIELD,
    UPDATE_FIELD,
    REMOVE_FIELD,
    REORDER_FIELDS,
    PUT_TEMPLATE,
    DELETE_TEMPLATE,
    OPEN_PAYLOAD,
    CREATE_INTERVENTION_TICKET,
    SUBMIT_INTERVENTION,
];

/// `intervention.defined`: a definition was created.
pub const INTERVENTION_DEFINED: &str = "intervention.defined";
/// `intervention.updated`: a definition, its fields or its templates changed.
pub const INTERVENTION_UPDATED: &str = "intervention.updated";

// Doc comments of the REST types are their public API descriptions (OpenAPI): on the
// broker, these travel as their `Sealed*` twins (`sealed.rs`), the token sealed.

/// The remote's bearer token on its way in. Its `Debug` never shows the value, so it
/// cannot reach a log line through `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct RemoteToken(pub String);

impl fmt::Debug for RemoteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteToken([redacted])")
    }
}

/// A UI field's kind (seed §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A text input bound to `data[name]`.
    Text,
    /// A checkbox bound to `data[name]`.
    Checkbox,
    /// Text only; may hold `{{token}}` placeholders.
    Label,
    /// A divider.
    Hr,
}

impl FieldType {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Checkbox => "checkbox",
            FieldType::Label => "label",
            FieldType::Hr => "hr",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(FieldType::Text),
            "checkbox" => Some(FieldType::Checkbox),
            "label" => Some(FieldType::Label),
            "hr" => Some(FieldType::Hr),
            _ => None,
        }
    }
}

/// A field as the caller describes it (validated by the intervention service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Kind of control.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Key in the data bag (text and checkbox only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Caption; `{{token}}`s are resolved from the data bag on the panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Width of a text input, in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_px: Option<i32>,
    /// Whether staff must fill it in.
    #[serde(default)]
    pub required: bool,
}

/// Changes to one field; absent members stay, `null` clears `name`, `label`, `width_px`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    /// New kind.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<FieldType>,
    /// New name, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    /// New label, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<Option<String>>,
    /// New width, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub width_px: Option<Option<i32>>,
    /// New required flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// A stored field, in its definition's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterventionField {
    /// `fld_` id.
    pub id: FieldId,
    /// Kind of control.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Key in the data bag (text and checkbox).
    pub name: Option<String>,
    /// Caption (on the panel: with tokens resolved).
    pub label: Option<String>,
    /// Width of a text input, in pixels.
    pub width_px: Option<i32>,
    /// Whether staff must fill it in.
    pub required: bool,
    /// Position, from 0.
    pub ordinal: i32,
}

/// The three templates of an intervention (seed §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// `{name}.private`: the staff-only response on create (required before use).
    Private,
    /// `{name}.public`: the optional public response on create.
    Public,
    /// `{name}.final`: the optional response posted on completion.
    Final,
}

impl TemplateKind {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Private => "private",
            TemplateKind::Public => "public",
            TemplateKind::Final => "final",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(TemplateKind::Private),
            "public" => Some(TemplateKind::Public),
            "final" => Some(TemplateKind::Final),
            _ => None,
        }
    }
}

/// A template's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    /// Which one.
    pub kind: TemplateKind,
    /// Its full name, `{intervention}.{kind}`.
    pub name: String,
    /// minijinja source (HTML, autoescaped).
    pub body: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A definition to create (validated by the intervention service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIntervention {
    /// Contract name: `^[a-z0-9][a-z0-9_.-]{0,63}$`, unique per tenant and env.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Queue the created tickets land in.
    pub queue_name: String,
    /// Notify the inbox managers of new tickets.
    #[serde(default)]
    pub notify_inbox_managers: bool,
    /// The seed's `fma_inbox_managers` flag.
    #[serde(default)]
    pub fma_inbox_managers: bool,
    /// Whether submissions are sent to the remote's epilog URL.
    #[serde(default)]
    pub remote_enabled: bool,
    /// The remote's name (labels its generated API key).
    #[serde(default)]
    pub remote_name: Option<String>,
    /// Where epilogs are POSTed.
    #[serde(default)]
    pub remote_epilog_url: Option<String>,
    /// Bearer token sent to the remote; write-only, encrypted at rest.
    #[serde(default)]
    pub remote_bearer_token: Option<RemoteToken>,
    /// Epilog request timeout, 1..=120 (default 30).
    #[serde(default)]
    pub remote_timeout_seconds: Option<i32>,
}

/// Changes to a definition; absent members stay, `null` clears the optional ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InterventionPatch {
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_inbox_managers: Option<bool>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fma_inbox_managers: Option<bool>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_enabled: Option<bool>,
    /// New remote name, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_name: Option<Option<String>>,
    /// New epilog URL, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_epilog_url: Option<Option<String>>,
    /// New bearer token, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_bearer_token: Option<Option<RemoteToken>>,
    /// New timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_timeout_seconds: Option<i32>,
}

/// A definition as read back: never the bearer token, only whether one is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Intervention {
    /// Contract name.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Queue the created tickets land in.
    pub queue_name: String,
    /// Notify the inbox managers of new tickets.
    pub notify_inbox_managers: bool,
    /// The seed's `fma_inbox_managers` flag.
    pub fma_inbox_managers: bool,
    /// Whether submissions are sent to the remote.
    pub remote_enabled: bool,
    /// The remote's name.
    pub remote_name: Option<String>,
    /// Where epilogs are POSTed.
    pub remote_epilog_url: Option<String>,
    /// Whether a bearer token is stored.
    pub remote_bearer_token_set: bool,
    /// Epilog request timeout in seconds.
    pub remote_timeout_seconds: i32,
    /// UI fields, in order.
    pub fields: Vec<InterventionField>,
    /// Which templates exist.
    pub templates: Vec<TemplateKind>,
    /// Changes with every write (the `ETag`).
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What the epilog dispatcher needs to call a remote (internal read only: it holds the
/// decrypted bearer token and is never relayed by the gateway).
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteSettings {
    /// Contract name.
    pub name: String,
    /// Whether submissions are sent.
    pub remote_enabled: bool,
    /// The remote's name.
    pub remote_name: Option<String>,
    /// Where epilogs are POSTed.
    pub remote_epilog_url: Option<String>,
    /// The decrypted bearer token.
    pub remote_bearer_token: Option<RemoteToken>,
    /// Epilog request timeout in seconds.
    pub remote_timeout_seconds: i32,
}

impl fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("name", &self.name)
            .field("remote_enabled", &self.remote_enabled)
            .field("remote_epilog_url", &self.remote_epilog_url)
            .field("remote_bearer_token", &self.remote_bearer_token)
            .finish_non_exhaustive()
    }
}

/// One instance of an intervention on a ticket (seed §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterventionPayload {
    /// `itv_` id.
    pub id: InterventionPayloadId,
    /// The ticket it belongs to.
    pub ticket_id: TicketId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// Whether the remote completed it.
    pub accepted: bool,
    /// The data bag exactly as the remote sent it (or as staff last edited it).
    pub data: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One entry of a ticket's intervention panel (seed §5.3): an unaccepted payload with
/// its definition's title and fields, labels resolved from the data bag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PanelItem {
    /// The payload.
    #[serde(flatten)]
    pub payload: InterventionPayload,
    /// The definition's title.
    pub title: String,
    /// The definition's fields in order, `{{token}}`s in labels resolved.
    pub fields: Vec<InterventionField>,
}

/// `Some(None)` for an explicit `null`, so a patch can tell "clear" from "keep".
fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn patches_tell_null_from_absent() {
        let patch: InterventionPatch =
            serde_json::from_str(r#"{"remote_bearer_token": null, "title": "T"}"#).unwrap();
        assert_eq!(patch.remote_bearer_token, Some(None));
        assert_eq!(patch.remote_name, None);
        let patch: FieldPatch = serde_json::from_str(r#"{"label": "x"}"#).unwrap();
        assert_eq!(patch.label, Some(Some("x".to_owned())));
        assert_eq!(patch.width_px, None);
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let token = RemoteToken("s3cret-value".to_owned());
        assert!(!format!("{token:?}").contains("s3cret"));
        let new = NewIntervention {
            name: "n".into(),
            title: "t".into(),
            queue_name: "q".into(),
            notify_inbox_managers: false,
            fma_inbox_managers: false,
            remote_enabled: true,
            remote_name: None,
            remote_epilog_url: None,
            remote_bearer_token: Some(token),
            remote_timeout_seconds: None,
        };
        assert!(!format!("{new:?}").contains("s3cret"));
    }
}

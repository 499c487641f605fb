//! Applying changes to an existing definition: settings, fields and templates. Each
//! runs in one transaction with the definition's row locked: inbox record, change,
//! version bump and `intervention.updated` event commit together.

use loopdesk_contracts::{
    Actor, DomainError, FieldError, Scope,
    interventions::{INTERVENTION_UPDATED, Intervention, InterventionPatch, TemplateKind},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    definitions::{
        CONSUMER,
        fields::{self, FieldEdit},
        remote,
        store::{self, DefinitionRow},
        validate,
    },
    events, render,
    secrets::SecretBox,
};

/// Largest template source, in bytes.
const MAX_TEMPLATE: usize = 64 * 1024;

/// One change to a definition.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Its settings.
    Settings(InterventionPatch),
    /// Its fields.
    Fields(FieldEdit),
    /// Create or replace a template.
    PutTemplate {
        /// Which.
        kind: TemplateKind,
        /// Its source.
        body: String,
    },
    /// Delete the public or final template.
    DeleteTemplate(TemplateKind),
}

/// Applies `edit` to the definition `name` unless this command was already applied,
/// and returns the definition as stored.
pub async fn apply(
    pool: &Pool,
    secrets: &SecretBox,
    scope: &Scope,
    request: &Envelope,
    name: &str,
    edit: Edit,
    actor: Actor,
) -> Result<Intervention, ApplyError> {
    if let Edit::PutTemplate { body, .. } = &edit {
        check_template(body)?;
    }
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, CONSUMER, &request.message_id).await? {
            // A redelivery: answer with what is stored.
            return store::find(conn, scope, name)
                .await?
                .ok_or_else(|| crate::apply::unknown_intervention(name));
        }
        let mut row = store::find_row(conn, scope, name, true)
            .await?
            .ok_or_else(|| crate::apply::unknown_intervention(name))?;
        match edit {
            Edit::Settings(patch) => patch_settings(&mut row, patch, secrets, scope)?,
            Edit::Fields(change) => {
                let mut list = store::fields(conn, scope, name).await?;
                fields::edit(&mut list, change)?;
                store::replace_fields(conn, scope, name, &mut list).await?;
            }
            Edit::PutTemplate { kind, body } => {
                store::put_template(conn, scope, name, kind, &body).await?;
            }
            Edit::DeleteTemplate(kind) => {
                if kind == TemplateKind::Private {
                    return Err(ApplyError::rejected(DomainError::new(
                        409,
                        "template_required",
                        "Template required",
                        "the private template is required; it can be replaced but not deleted",
                    )));
                }
                if !store::delete_template(conn, scope, name, kind).await? {
                    return Err(ApplyError::rejected(DomainError::new(
                        404,
                        "template_not_found",
                        "Template not found",
                        format!("`{name}.{}` does not exist", kind.as_str()),
                    )));
                }
            }
        }
        store::save(conn, &mut row).await?;
        let changed = store::assemble(conn, row).await?;
        events::record(conn, scope, INTERVENTION_UPDATED, &changed, &actor, request).await?;
        Ok(changed)
    })
    .await
}

/// A template must compile; its engine's message (with the line) is the answer.
fn check_template(body: &str) -> Result<(), ApplyError> {
    if body.trim().is_empty() || body.len() > MAX_TEMPLATE {
        return Err(ApplyError::invalid(vec![FieldError::new(
            "body",
            format!("must be 1 to {MAX_TEMPLATE} bytes"),
        )]));
    }
    render::compile(body).map_err(|e| {
        let mut error = DomainError::new(
            422,
            "template_invalid",
            "Template invalid",
            format!("the template does not compile: {}", e.message),
        );
        error
            .errors
            .push(FieldError::new("body", e.message.clone()));
        if let Some(line) = e.line {
            error.extensions.insert("line".to_owned(), line.into());
        }
        ApplyError::rejected(error)
    })
}

fn patch_settings(
    row: &mut DefinitionRow,
    patch: InterventionPatch,
    secrets: &SecretBox,
    scope: &Scope,
) -> Result<(), ApplyError> {
    let mut errors = Vec::new();
    if let Some(title) = patch.title {
        row.title = title.trim().to_owned();
    }
    if let Some(queue) = patch.queue_name {
        row.queue_name = validate::normalize_queue(&queue);
    }
    if let Some(flag) = patch.notify_inbox_managers {
        row.notify_inbox_managers = flag;
    }
    if let Some(flag) = patch.fma_inbox_managers {
        row.fma_inbox_managers = flag;
    }
    if let Some(flag) = patch.remote_enabled {
        row.remote_enabled = flag;
    }
    if let Some(remote_name) = patch.remote_name {
        row.remote_name = remote_name.map(|n| n.trim().to_owned());
    }
    if let Some(url) = patch.remote_epilog_url {
        row.remote_epilog_url = url.map(|u| u.trim().to_owned());
    }
    if let Some(timeout) = patch.remote_timeout_seconds {
        row.remote_timeout_seconds = timeout;
    }
    match patch.remote_bearer_token {
        None => {}
        Some(None) => row.remote_bearer_token_enc = None,
        Some(Some(token)) => match remote::check_token(&token.0) {
            Ok(()) => {
                row.remote_bearer_token_enc = Some(
                    secrets
                        .seal(&store::token_owner(scope, &row.name), &token.0)
                        .map_err(|e| ApplyError::Failed(e.to_string()))?,
                );
            }
            Err(e) => errors.push(e),
        },
    }
    errors.extend(validate::settings(row));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::invalid(errors))
    }
}

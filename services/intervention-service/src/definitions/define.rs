//! Applying `intervention.define`: the definition row, its inbox record and its
//! `intervention.defined` event commit together, or not at all.

use chrono::Utc;
use loopdesk_contracts::{
    Actor, DomainError, Scope,
    interventions::{INTERVENTION_DEFINED, Intervention, NewIntervention},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    definitions::{
        CONSUMER,
        store::{self, DefinitionRow},
        validate,
    },
    events,
    secrets::SecretBox,
};

/// Creates the definition unless this command was already applied, and returns it as
/// stored. A name already taken in the scope is 409 `intervention_exists`.
pub async fn apply(
    pool: &Pool,
    secrets: &SecretBox,
    scope: &Scope,
    request: &Envelope,
    definition: NewIntervention,
    actor: Actor,
) -> Result<Intervention, ApplyError> {
    let now = Utc::now();
    let mut row = DefinitionRow {
        tenant: scope.tenant.as_str().to_owned(),
        env: scope.env.as_str().to_owned(),
        name: definition.name.clone(),
        title: definition.title.trim().to_owned(),
        queue_name: validate::normalize_queue(&definition.queue_name),
        notify_inbox_managers: definition.notify_inbox_managers,
        fma_inbox_managers: definition.fma_inbox_managers,
        remote_enabled: definition.remote_enabled,
        remote_name: definition.remote_name.map(|n| n.trim().to_owned()),
        remote_epilog_url: definition.remote_epilog_url.map(|u| u.trim().to_owned()),
        remote_bearer_token_enc: None,
        remote_timeout_seconds: definition
            .remote_timeout_seconds
            .unwrap_or(validate::DEFAULT_TIMEOUT_SECONDS),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut errors = validate::settings(&row);
    if let Some(token) = &definition.remote_bearer_token {
        match crate::definitions::remote::check_token(&token.0) {
            Ok(()) => {
                row.remote_bearer_token_enc = Some(
                    secrets
                        .seal(&store::token_owner(scope, &row.name), &token.0)
                        .map_err(|e| ApplyError::Failed(e.to_string()))?,
                );
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApplyError::invalid(errors));
    }
    loopdesk_storage::transaction(pool, async |conn| {
        let first = claim(conn, CONSUMER, &request.message_id).await?;
        if first {
            if !store::insert(conn, &row).await? {
                return Err(ApplyError::rejected(DomainError::new(
                    409,
                    "intervention_exists",
                    "Intervention exists",
                    format!("an intervention named `{}` already exists", row.name),
                )));
            }
            let created = store::assemble(conn, row.clone()).await?;
            events::record(conn, scope, INTERVENTION_DEFINED, &created, &actor, request).await?;
            return Ok(created);
        }
        // A redelivery: answer with what is stored.
        store::find(conn, scope, &row.name)
            .await?
            .ok_or_else(|| crate::apply::unknown_intervention(&row.name))
    })
    .await
}

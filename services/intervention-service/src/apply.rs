//! How applying a command can fail: the shared vocabulary of `loopdesk_runtime`, plus
//! this service's own refusals.

use loopdesk_contracts::DomainError;
pub use loopdesk_runtime::ApplyError;

/// 404 for a definition that does not exist in the caller's scope.
pub fn unknown_intervention(name: &str) -> ApplyError {
    ApplyError::rejected(DomainError::new(
        404,
        "intervention_not_found",
        "Intervention not found",
        format!("there is no intervention named `{name}`"),
    ))
}

/// 404 for a field that is not one of the definition's.
pub fn unknown_field(id: &str) -> ApplyError {
    ApplyError::rejected(DomainError::new(
        404,
        "field_not_found",
        "Field not found",
        format!("the intervention has no field `{id}`"),
    ))
}

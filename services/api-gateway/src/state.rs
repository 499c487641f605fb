//! What request handlers share.

use crate::{command_bus::CommandBus, idempotency::Idempotency, owners::OwnerClient};

/// Shared by every handler (as `web::Data`).
pub struct GatewayState {
    /// Commands to owners.
    pub commands: CommandBus,
    /// Idempotency records.
    pub idempotency: Idempotency,
    /// The ticket service's read API.
    pub tickets: OwnerClient,
    /// webhook-fanout's read API.
    pub webhooks: OwnerClient,
    /// The intervention service's read API.
    pub interventions: OwnerClient,
    /// epilog-dispatcher's read API.
    pub epilogs: OwnerClient,
    /// Seals remote bearer tokens for intervention-service (its public key).
    pub remote_token_key: loopdesk_transit::PublicKey,
}

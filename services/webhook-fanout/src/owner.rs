//! What applying a command needs besides the command.

use loopdesk_storage::Pool;

use crate::secrets::SecretBox;

/// The owner's side of every command: the database and the decisions from config.
#[derive(Clone)]
pub struct Owner {
    /// webhook-fanout's database.
    pub pool: Pool,
    /// Seals and opens signing secrets.
    pub secrets: SecretBox,
    /// Whether `http://` endpoint URLs are accepted.
    pub allow_http: bool,
    /// How long a rotated-away secret keeps signing.
    pub rotation_grace: chrono::Duration,
}

/// The inbox name of the command consumer.
pub const COMMAND_INBOX: &str = "webhook-fanout.commands";

//! Commands sent to the ticket service on the `commands` exchange, and its replies.
//! The AMQP `type` and the routing key are the command name; the body is tagged too, so
//! a body read on its own still says what it is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    problem::DomainError,
    tickets::{NewTicket, Ticket},
};

/// Command name of [`TicketCommand::Create`].
pub const CREATE_TICKET: &str = "ticket.create";

/// Every command the ticket service takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum TicketCommand {
    /// Create a ticket (schema version 1).
    #[serde(rename = "ticket.create")]
    Create(CreateTicket),
}

impl TicketCommand {
    /// The command name: AMQP `type` and routing key.
    pub fn name(&self) -> &'static str {
        match self {
            TicketCommand::Create(_) => CREATE_TICKET,
        }
    }
}

/// Create a ticket with the given, already validated, fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateTicket {
    /// The new ticket.
    pub ticket: NewTicket,
    /// Who asked for it.
    pub actor: Actor,
}

/// The ticket service's answer to a command that carried `reply_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TicketReply {
    /// The command was applied (or had been): the ticket as it now stands.
    Ticket {
        /// The resource.
        ticket: Box<Ticket>,
    },
    /// The command was refused; nothing changed.
    Rejected {
        /// Why.
        error: DomainError,
    },
}

//! Sending commands to their owners and waiting, up to a deadline, for the answer.

use std::time::Duration;

use loopdesk_contracts::Scope;
use loopdesk_messaging::{
    Broker, Envelope, OutgoingMessage, Route, RpcClient, RpcError, inject_current_trace,
};
use loopdesk_web::Problem;
use serde::{Serialize, de::DeserializeOwned};

/// Seconds a caller is told to wait when the broker is unavailable.
const RETRY_AFTER_SECS: u64 = 5;

/// How a sent command ended, from the caller's point of view.
pub enum Sent<R> {
    /// The owner answered within the deadline.
    Answered(R),
    /// The command is durably queued; the owner has not answered yet.
    Queued,
}

/// Commands out, replies in.
#[derive(Clone)]
pub struct CommandBus {
    broker: Broker,
    rpc: RpcClient,
    deadline: Duration,
}

impl CommandBus {
    /// A bus over `broker`, waiting up to `deadline` for answers.
    pub fn new(broker: Broker, deadline: Duration) -> Self {
        let rpc = RpcClient::start(&broker);
        Self {
            broker,
            rpc,
            deadline,
        }
    }

    /// Sends the command `name` with the given message id (stable across retries of one
    /// idempotent request) and waits for the owner's reply of type `R`. An `Err` means
    /// the broker did not take the command: nothing was done.
    pub async fn send<C: Serialize, R: DeserializeOwned>(
        &self,
        scope: &Scope,
        message_id: &str,
        name: &str,
        command: &C,
    ) -> Result<Sent<R>, Problem> {
        if !self.broker.is_connected() {
            return Err(broker_unavailable());
        }
        let mut envelope = Envelope::new(name, scope.tenant.as_str(), scope.env.as_str());
        envelope.message_id = message_id.to_owned();
        inject_current_trace(&mut envelope);
        let message = OutgoingMessage::json(Route::Command(name.to_owned()), envelope, command)
            .map_err(|e| {
                tracing::error!(error = %e, command = name, "could not encode a command");
                Problem::internal()
            })?;
        match self.rpc.call(message, self.deadline).await {
            Ok(delivery) => delivery.json::<R>().map(Sent::Answered).map_err(|e| {
                tracing::error!(error = %e, command = name, "undecodable reply");
                Problem::internal()
            }),
            Err(RpcError::Timeout) => Ok(Sent::Queued),
            Err(RpcError::Publish(e)) => {
                tracing::warn!(error = %e, command = name, "command not accepted by the broker");
                Err(broker_unavailable())
            }
        }
    }
}

fn broker_unavailable() -> Problem {
    Problem::unavailable(
        "the message broker is unavailable; nothing was done, retry with the same Idempotency-Key",
        RETRY_AFTER_SECS,
    )
}

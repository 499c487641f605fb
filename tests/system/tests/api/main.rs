//! End-to-end tests of the gateway and the ticket service, over real RabbitMQ and
//! PostgreSQL. Each test has its own database and broker prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod batched_creates;
mod contracts;
mod deliveries;
mod dispatch_batches;
mod epilogs;
mod events;
mod fanout_batches;
mod helpers;
mod idempotency;
mod idempotency_batches;
mod intervention_e2e;
mod intervention_flow;
mod intervention_tokens;
mod interventions;
mod janitor;
mod lifecycle;
mod observability;
mod openapi;
mod outage;
mod outbound_safety;
mod receiver;
mod search;
mod shutdown;
mod sla;
mod steps;
mod threads;
mod tickets;
mod updates;
mod validation;
mod webhooks;

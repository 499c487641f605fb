//! End-to-end tests of the gateway and the ticket service, over real RabbitMQ and
//! PostgreSQL. Each test has its own database and broker prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod helpers;
mod idempotency;
mod outage;
mod tickets;
mod validation;

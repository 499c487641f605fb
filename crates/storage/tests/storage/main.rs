//! Integration tests of loopdesk-storage against the real PostgreSQL and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker;
mod durability;
mod errors;
mod helpers;
mod inbox;
mod migrations;
mod outbox;
mod relay;

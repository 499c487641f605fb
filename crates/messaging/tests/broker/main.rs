//! Integration tests against the local RabbitMQ; every test has its own name prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod consume;
mod helpers;
mod proxy;
mod publish;
mod reconnect;
mod rpc;

//! `loopdesk keys ...`: key material the services are configured with.

use clap::Subcommand;
use loopdesk_transit::PrivateKey;

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// A fresh X25519 key pair for remote bearer tokens in transit, as environment lines:
    /// the private key for intervention-service only, its public half for the gateway.
    Transit,
}

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) {
    match command {
        KeysCommand::Transit => transit(),
    }
}

fn transit() {
    let key = PrivateKey::generate();
    // Only the lines on stdout, so `loopdesk keys transit >> some.env` writes an env file.
    eprintln!(
        "# intervention-service only (a secret): LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY\n\
         # api-gateway (not secret): LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY"
    );
    println!("LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY={}", key.to_base64());
    println!(
        "LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY={}",
        key.public_key().to_base64()
    );
}

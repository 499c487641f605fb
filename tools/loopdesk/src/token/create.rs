//! `loopdesk token create`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use loopdesk_auth::{Ability, KeyRing, MintRequest};
use loopdesk_contracts::{Env, Tenant};

/// Arguments of `loopdesk token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant the key reaches.
    #[arg(long, value_parser = parse_tenant)]
    tenant: Tenant,
    /// `test` or `live`.
    #[arg(long, value_parser = parse_env)]
    env: Env,
    /// Comma-separated abilities, e.g. `create-ticket,tickets:read`.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_ability)]
    abilities: Vec<Ability>,
    /// Who or what the key is for, e.g. `remote:shop` or `user:alice`.
    #[arg(long, default_value = "admin:loopdesk-cli")]
    sub: String,
    /// Days until the key expires.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    ttl_days: u32,
    /// A description kept in the key.
    #[arg(long)]
    label: Option<String>,
}

fn parse_tenant(s: &str) -> Result<Tenant, String> {
    Tenant::parse(s).map_err(|e| e.to_string())
}

fn parse_env(s: &str) -> Result<Env, String> {
    s.parse()
        .map_err(|e: loopdesk_contracts::tenancy::UnknownEnv| e.to_string())
}

fn parse_ability(s: &str) -> Result<Ability, String> {
    s.trim()
        .parse()
        .map_err(|e: loopdesk_auth::UnknownAbility| e.to_string())
}

/// Mints the key. Only the key goes to stdout, so `TOKEN=$(loopdesk token create ...)`
/// captures exactly it.
pub fn run(ring: &KeyRing, args: CreateArgs) -> anyhow::Result<()> {
    let minted = ring.mint(MintRequest {
        sub: args.sub,
        tenant: args.tenant,
        env: args.env,
        abilities: args.abilities,
        ttl: chrono::Duration::days(i64::from(args.ttl_days)),
        label: args.label,
    })?;
    let expires = chrono::DateTime::from_timestamp(minted.claims.exp, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    eprintln!(
        "jti: {} (kid {}, expires {expires})",
        minted.claims.jti,
        ring.active_kid()
    );
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", minted.token).context("writing the key to stdout")?;
    Ok(())
}

//! `loopdesk token inspect`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use loopdesk_auth::KeyRing;

/// Arguments of `loopdesk token inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The key, `ld_test_...` or `ld_live_...` (a `Bearer ` prefix is accepted too).
    key: String,
}

/// Verifies the key with the configured secrets and prints its claims.
pub fn run(ring: &KeyRing, args: &InspectArgs) -> anyhow::Result<()> {
    let key = loopdesk_auth::bearer_token(&args.key).unwrap_or(args.key.trim());
    let claims = ring.verify(key)?;
    let json = serde_json::to_string_pretty(&claims).context("rendering the claims")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}").context("writing the claims to stdout")?;
    Ok(())
}

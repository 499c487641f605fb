//! `loopdesk token revoke`: through the gateway, so every instance learns of it.

use clap::Args;

use crate::api::ApiArgs;

/// Arguments of `loopdesk token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key's id (`key_...`, its `jti`).
    key_id: String,
    #[command(flatten)]
    api: ApiArgs,
}

/// Revokes the key; the calling key needs `keys:admin` in the same tenant and env.
pub async fn run(args: &RevokeArgs) -> anyhow::Result<()> {
    let answer = args
        .api
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/api_keys/{}", args.key_id),
            None,
        )
        .await?;
    println!("{answer}");
    Ok(())
}

//! The configuration the CLI shares with the services: an optional TOML file, then
//! `LOOPDESK_`-prefixed environment variables with `__` between nesting levels.

use std::path::Path;

use anyhow::Context as _;
use config::{Config, Environment, File, FileFormat};
use loopdesk_auth::{KeyRing, KeySettings};
use serde::Deserialize;

/// The parts of the configuration the CLI uses; other tables are ignored.
#[derive(Debug, Deserialize)]
struct CliSettings {
    auth: KeySettings,
}

/// Loads the `[auth]` settings and builds the key ring from them.
pub fn key_ring(config_file: Option<&Path>) -> anyhow::Result<KeyRing> {
    let mut builder = Config::builder();
    if let Some(path) = config_file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    // `prefix_separator` is needed because with only `separator("__")` the crate
    // would look for `LOOPDESK__AUTH...`, not `LOOPDESK_AUTH__...`.
    let environment = Environment::with_prefix("LOOPDESK")
        .prefix_separator("_")
        .separator("__");
    let settings: CliSettings = builder
        .add_source(environment)
        .build()
        .and_then(Config::try_deserialize)
        .context(
            "loading the auth settings (set LOOPDESK_AUTH__ACTIVE_KID and \
             LOOPDESK_AUTH__KEYS__<kid>, or pass --config with an [auth] table)",
        )?;
    KeyRing::from_settings(&settings.auth).context("invalid auth settings")
}

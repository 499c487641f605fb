#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs the `loopdesk` binary and checks its keys with the library's `KeyRing`.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use loopdesk_auth::{Ability, KeyRing, KeySettings};
use loopdesk_contracts::{Env, ids::KeyId};
use secrecy::SecretString;

const SECRET: &str = "cli-test-secret-0123456789abcdef0123";
const OLD_SECRET: &str = "cli-old-secret-0123456789abcdef01234";

/// The binary with a clean environment, so settings on the developer's machine cannot
/// leak into the test.
fn loopdesk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopdesk"));
    command.env_clear();
    command
}

fn with_env_keys(mut command: Command) -> Command {
    command
        .env("LOOPDESK_AUTH__ACTIVE_KID", "k2")
        .env("LOOPDESK_AUTH__KEYS__K2", SECRET)
        .env("LOOPDESK_AUTH__KEYS__K1", OLD_SECRET);
    command
}

fn ring(active: &str, keys: &[(&str, &str)]) -> KeyRing {
    KeyRing::from_settings(&KeySettings {
        active_kid: active.into(),
        keys: keys
            .iter()
            .map(|(k, s)| ((*k).to_owned(), SecretString::from(*s)))
            .collect::<BTreeMap<_, _>>(),
    })
    .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn token_create_prints_only_a_verifiable_key_on_stdout() {
    let mut command = with_env_keys(loopdesk());
    command.args([
        "token",
        "create",
        "--tenant",
        "acme",
        "--env",
        "test",
        "--abilities",
        "create-ticket,tickets:read",
        "--sub",
        "remote:shop",
        "--ttl-days",
        "30",
        "--label",
        "shop",
    ]);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let printed = stdout(&output);
    let token = printed.strip_suffix('\n').unwrap();
    assert!(token.starts_with("ld_test_"), "{printed}");
    assert!(!token.contains(char::is_whitespace));

    let claims = ring("k2", &[("k2", SECRET)]).verify(token).unwrap();
    assert_eq!(claims.tenant.as_str(), "acme");
    assert_eq!(claims.env, Env::Test);
    assert_eq!(claims.sub, "remote:shop");
    assert_eq!(
        claims.abilities,
        vec![Ability::CreateTicket, Ability::TicketsRead]
    );
    assert_eq!(claims.label.as_deref(), Some("shop"));
    assert_eq!(claims.exp - claims.iat, 30 * 86_400);

    // The id goes to stderr, where an operator sees it without it polluting $(...).
    let jti = stderr(&output)
        .split_whitespace()
        .find_map(|word| word.parse::<KeyId>().ok())
        .unwrap();
    assert_eq!(jti, claims.jti);
    // Signed with the active kid, not the old one.
    assert!(ring("k1", &[("k1", OLD_SECRET)]).verify(token).is_err());
}

#[test]
fn config_file_supplies_keys_and_inspect_prints_verified_claims() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("loopdesk-cli-{}.toml", KeyId::generate()));
    std::fs::write(
        &path,
        format!("[auth]\nactive_kid = \"file1\"\n\n[auth.keys]\nfile1 = \"{SECRET}\"\n"),
    )
    .unwrap();

    let created = loopdesk()
        .arg("--config")
        .arg(&path)
        .args([
            "token",
            "create",
            "--tenant",
            "globex",
            "--env",
            "live",
            "--abilities",
            "keys:admin",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    assert!(token.starts_with("ld_live_"));
    let claims = ring("file1", &[("file1", SECRET)]).verify(&token).unwrap();
    assert_eq!(claims.abilities, vec![Ability::KeysAdmin]);
    assert_eq!(claims.exp - claims.iat, 365 * 86_400);

    let inspected = loopdesk()
        .arg("--config")
        .arg(&path)
        .args(["token", "inspect", &token])
        .output()
        .unwrap();
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let json: serde_json::Value = serde_json::from_str(&stdout(&inspected)).unwrap();
    assert_eq!(json["tenant"], "globex");
    assert_eq!(json["env"], "live");
    assert_eq!(json["jti"], claims.jti.to_string());

    // A key signed with a secret the configuration does not hold is refused.
    let foreign = ring("file1", &[("file1", OLD_SECRET)])
        .mint(loopdesk_auth::MintRequest {
            sub: "user:mallory".into(),
            tenant: claims.tenant.clone(),
            env: Env::Live,
            abilities: vec![Ability::KeysAdmin],
            ttl: chrono::Duration::days(1),
            label: None,
        })
        .unwrap();
    let refused = loopdesk()
        .arg("--config")
        .arg(&path)
        .args(["token", "inspect", &foreign.token])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!refused.status.success());
    assert!(stdout(&refused).is_empty());
    assert!(
        stderr(&refused).contains("signature"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn unknown_ability_fails_without_printing_a_key() {
    let output = with_env_keys(loopdesk())
        .args([
            "token",
            "create",
            "--tenant",
            "acme",
            "--env",
            "test",
            "--abilities",
            "tickets:delete",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("tickets:delete"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn short_secret_is_reported_by_kid_without_revealing_it() {
    let output = loopdesk()
        .env("LOOPDESK_AUTH__ACTIVE_KID", "k1")
        .env("LOOPDESK_AUTH__KEYS__K1", "tooshortsecret")
        .args([
            "token",
            "create",
            "--tenant",
            "acme",
            "--env",
            "test",
            "--abilities",
            "tickets:read",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stdout(&output).is_empty());
    let message = stderr(&output);
    assert!(
        message.contains("k1") && message.contains("32 bytes"),
        "{message}"
    );
    assert!(!message.contains("tooshortsecret"), "{message}");
}

#[test]
fn missing_settings_say_what_to_set() {
    let output = loopdesk()
        .args([
            "token",
            "create",
            "--tenant",
            "acme",
            "--env",
            "test",
            "--abilities",
            "tickets:read",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("LOOPDESK_AUTH__ACTIVE_KID"),
        "{}",
        stderr(&output)
    );
}

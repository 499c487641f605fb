#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `loopdesk keys transit`: the pair it prints configures both services and works.

use std::{collections::HashMap, process::Command};

use loopdesk_transit::{PrivateKey, PublicKey};

/// The env lines `loopdesk keys transit` prints on stdout, by name.
fn transit_pair() -> HashMap<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_loopdesk"))
        .args(["keys", "transit"])
        .env_clear()
        .output()
        .expect("the CLI runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "only the env lines on stdout: {stdout}");
    lines
        .iter()
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn keys_transit_prints_a_fresh_matching_pair_for_the_two_services() {
    let pair = transit_pair();
    let private = PrivateKey::from_base64(&pair["LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY"]).unwrap();
    let public = PublicKey::from_base64(&pair["LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY"]).unwrap();
    let sealed = public.seal(b"rbt-secret-token").unwrap();
    assert_eq!(private.open(&sealed).unwrap(), b"rbt-secret-token");
    assert_ne!(transit_pair(), pair, "every run makes a new pair");

    // Each service takes its half as printed.
    let vars = |extra: &[(&str, &str)]| -> HashMap<String, String> {
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let gateway = api_gateway::Settings::load_with_vars(vars(&[
        (
            "LOOPDESK_AUTH__KEYS__K1",
            "cli-test-secret-0123456789abcdef0123",
        ),
        (
            "LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY",
            &pair["LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY"],
        ),
    ]))
    .unwrap();
    assert_eq!(gateway.token_public_key().unwrap(), public);
    let service = intervention_service::Settings::load_with_vars(vars(&[
        (
            "LOOPDESK_SECRETS__ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
        (
            "LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY",
            &pair["LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY"],
        ),
    ]));
    assert!(service.is_ok(), "{service:?}");
}

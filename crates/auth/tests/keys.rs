#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Minting and verifying keys through the public API, including hand-built hostile
//! tokens.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use loopdesk_auth::{
    Ability, AuthError, Claims, KeyRing, KeySettings, MintRequest, RevocationList,
};
use loopdesk_contracts::{Env, Tenant, ids::KeyId};
use secrecy::SecretString;
use serde_json::json;

const SECRET_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SECRET_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn ring(active: &str, keys: &[(&str, &str)]) -> KeyRing {
    let settings = KeySettings {
        active_kid: active.to_owned(),
        keys: keys
            .iter()
            .map(|(k, s)| ((*k).to_owned(), SecretString::from(*s)))
            .collect::<BTreeMap<_, _>>(),
    };
    KeyRing::from_settings(&settings).unwrap()
}

fn request(env: Env, abilities: Vec<Ability>) -> MintRequest {
    MintRequest {
        sub: "remote:shop".into(),
        tenant: Tenant::parse("acme").unwrap(),
        env,
        abilities,
        ttl: chrono::Duration::days(1),
        label: Some("shop integration".into()),
    }
}

/// Signs arbitrary claims with a chosen algorithm, kid and secret, as an attacker or a
/// misconfigured issuer could.
fn sign(alg: Algorithm, kid: &str, secret: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_json(env: &str, exp_offset_secs: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "user:alice",
        "tenant": "acme",
        "env": env,
        "abilities": ["tickets:read"],
        "jti": KeyId::generate().to_string(),
        "iat": now - 3600,
        "exp": now + exp_offset_secs,
    })
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[test]
fn minted_key_round_trips() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let minted = ring
        .mint(request(
            Env::Test,
            vec![Ability::CreateTicket, Ability::TicketsRead],
        ))
        .unwrap();
    assert!(minted.token.starts_with("ld_test_"));
    assert!(minted.claims.jti.to_string().starts_with("key_"));
    assert_eq!(minted.claims.exp - minted.claims.iat, 86_400);

    let claims = ring.verify(&minted.token).unwrap();
    assert_eq!(claims, minted.claims);
    assert_eq!(claims.label.as_deref(), Some("shop integration"));
    assert_eq!(claims.scope().tenant.as_str(), "acme");
    assert_eq!(claims.scope().env, Env::Test);

    let live = ring.mint(request(Env::Live, vec![])).unwrap();
    assert!(live.token.starts_with("ld_live_"));
    assert_eq!(ring.verify(&live.token).unwrap().env, Env::Live);
}

#[test]
fn abilities_are_checked_one_by_one() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let minted = ring
        .mint(request(
            Env::Test,
            vec![Ability::CreateTicket, Ability::TicketsRead],
        ))
        .unwrap();
    let claims = ring.verify(&minted.token).unwrap();
    assert!(claims.has(Ability::CreateTicket));
    assert!(claims.has(Ability::TicketsRead));
    assert!(!claims.has(Ability::TicketsWrite));
    assert!(!claims.has(Ability::KeysAdmin));
}

#[test]
fn token_signed_with_another_secret_is_refused() {
    let issuer = ring("k1", &[("k1", SECRET_B)]);
    let verifier = ring("k1", &[("k1", SECRET_A)]);
    let minted = issuer.mint(request(Env::Test, vec![])).unwrap();
    assert_eq!(verifier.verify(&minted.token), Err(AuthError::BadSignature));
}

#[test]
fn tampered_payload_is_refused() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let minted = ring
        .mint(request(Env::Test, vec![Ability::TicketsRead]))
        .unwrap();
    let jwt = minted.token.strip_prefix("ld_test_").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = serde_json::to_value(&minted.claims).unwrap();
    claims["abilities"] = json!(["keys:admin"]);
    let forged = format!("ld_test_{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_eq!(ring.verify(&forged), Err(AuthError::BadSignature));
}

#[test]
fn unknown_kid_is_refused() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let token = format!(
        "ld_test_{}",
        sign(Algorithm::HS256, "k9", SECRET_A, &claims_json("test", 600))
    );
    assert_eq!(ring.verify(&token), Err(AuthError::UnknownKid));

    let header = json!({"alg": "HS256", "typ": "JWT"});
    let no_kid = format!(
        "ld_test_{}.{}.c2ln",
        b64(&header),
        b64(&claims_json("test", 600))
    );
    assert_eq!(ring.verify(&no_kid), Err(AuthError::UnknownKid));
}

#[test]
fn expired_token_is_refused_beyond_a_few_seconds_of_leeway() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let expired = format!(
        "ld_test_{}",
        sign(Algorithm::HS256, "k1", SECRET_A, &claims_json("test", -60))
    );
    assert_eq!(ring.verify(&expired), Err(AuthError::Expired));
    let fresh = format!(
        "ld_test_{}",
        sign(Algorithm::HS256, "k1", SECRET_A, &claims_json("test", 60))
    );
    assert!(ring.verify(&fresh).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "k1"});
        let claims = claims_json("test", 600);
        let unsigned = format!("ld_test_{}.{}.", b64(&header), b64(&claims));
        assert_eq!(
            ring.verify(&unsigned),
            Err(AuthError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn other_algorithms_are_refused_even_with_the_right_secret() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let hs512 = format!(
        "ld_test_{}",
        sign(Algorithm::HS512, "k1", SECRET_A, &claims_json("test", 600))
    );
    assert_eq!(ring.verify(&hs512), Err(AuthError::UnsupportedAlgorithm));

    // An RS256 label over an HMAC signature is the classic key-confusion attempt.
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
    let good = sign(Algorithm::HS256, "k1", SECRET_A, &claims_json("test", 600));
    let (_, rest) = good.split_once('.').unwrap();
    let rs256 = format!("ld_test_{}.{rest}", b64(&header));
    assert_eq!(ring.verify(&rs256), Err(AuthError::UnsupportedAlgorithm));
}

#[test]
fn prefix_must_match_env_claim() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let minted = ring.mint(request(Env::Test, vec![])).unwrap();
    let relabelled = minted.token.replacen("ld_test_", "ld_live_", 1);
    assert_eq!(ring.verify(&relabelled), Err(AuthError::EnvMismatch));

    let live_claims = sign(Algorithm::HS256, "k1", SECRET_A, &claims_json("live", 600));
    assert_eq!(
        ring.verify(&format!("ld_test_{live_claims}")),
        Err(AuthError::EnvMismatch)
    );
}

#[test]
fn garbage_is_refused_without_echoing_it() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let cases = [
        ("", AuthError::MissingPrefix),
        ("hello", AuthError::MissingPrefix),
        ("ld_prod_a.b.c", AuthError::MissingPrefix),
        ("ld_test_", AuthError::MalformedToken),
        ("ld_test_notajwt", AuthError::MalformedToken),
        ("ld_test_a.b", AuthError::MalformedToken),
        ("ld_test_a.b.c.d", AuthError::MalformedToken),
        ("ld_test_!!!.b.c", AuthError::MalformedToken),
        ("ld_test_eyJhbGciOiJIUzI1NiJ9.%%%.c", AuthError::UnknownKid),
    ];
    for (token, expected) in cases {
        let err = ring.verify(token).unwrap_err();
        assert_eq!(err, expected, "{token:?}");
        if token.len() > 8 {
            assert!(!err.to_string().contains(token), "{err} echoes {token}");
        }
    }
}

#[test]
fn claims_of_the_wrong_shape_are_refused() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let mut claims = claims_json("test", 600);
    claims["abilities"] = json!(["tickets:delete"]);
    let token = format!(
        "ld_test_{}",
        sign(Algorithm::HS256, "k1", SECRET_A, &claims)
    );
    assert!(matches!(
        ring.verify(&token),
        Err(AuthError::InvalidClaims(_))
    ));

    let mut claims = claims_json("test", 600);
    claims["jti"] = json!("tkt_01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let token = format!(
        "ld_test_{}",
        sign(Algorithm::HS256, "k1", SECRET_A, &claims)
    );
    assert!(matches!(
        ring.verify(&token),
        Err(AuthError::InvalidClaims(_))
    ));
}

#[test]
fn rotation_keeps_old_keys_valid_until_their_kid_is_removed() {
    let before = ring("k1", &[("k1", SECRET_A)]);
    let old_key = before.mint(request(Env::Test, vec![])).unwrap();

    let during = ring("k2", &[("k1", SECRET_A), ("k2", SECRET_B)]);
    assert_eq!(during.active_kid(), "k2");
    assert_eq!(
        during.verify(&old_key.token).unwrap().jti,
        old_key.claims.jti
    );
    let new_key = during.mint(request(Env::Test, vec![])).unwrap();
    assert!(before.verify(&new_key.token).is_err());

    let after = ring("k2", &[("k2", SECRET_B)]);
    assert_eq!(after.verify(&old_key.token), Err(AuthError::UnknownKid));
    assert!(after.verify(&new_key.token).is_ok());
}

#[test]
fn revoked_keys_are_refused_by_the_list() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let minted = ring.mint(request(Env::Test, vec![])).unwrap();
    let revoked = RevocationList::default();
    let claims: Claims = ring.verify(&minted.token).unwrap();
    assert_eq!(revoked.check(&claims), Ok(()));
    revoked.insert(claims.jti);
    assert_eq!(revoked.check(&claims), Err(AuthError::Revoked));
}

#[test]
fn mint_refuses_non_positive_ttl_and_empty_subject() {
    let ring = ring("k1", &[("k1", SECRET_A)]);
    let mut zero = request(Env::Test, vec![]);
    zero.ttl = chrono::Duration::zero();
    assert!(matches!(ring.mint(zero), Err(AuthError::InvalidRequest(_))));
    let mut blank = request(Env::Test, vec![]);
    blank.sub = " ".into();
    assert!(matches!(
        ring.mint(blank),
        Err(AuthError::InvalidRequest(_))
    ));
}

#[test]
fn debug_output_never_shows_secrets_or_tokens() {
    let settings = KeySettings {
        active_kid: "k1".into(),
        keys: [("k1".to_owned(), SecretString::from(SECRET_A))]
            .into_iter()
            .collect(),
    };
    let ring = KeyRing::from_settings(&settings).unwrap();
    let minted = ring.mint(request(Env::Test, vec![])).unwrap();
    for shown in [
        format!("{settings:?}"),
        format!("{ring:?}"),
        format!("{minted:?}"),
    ] {
        assert!(!shown.contains(SECRET_A), "{shown}");
        assert!(!shown.contains(&minted.token), "{shown}");
    }
    assert!(format!("{ring:?}").contains("k1"));
}

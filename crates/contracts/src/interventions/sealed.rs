//! Definitions as the commands carry them: the remote's bearer token sealed by the
//! gateway for the intervention service alone, so the broker (its disk, its dead
//! letters, its frame logs) never holds it in plaintext. The REST API still takes the
//! token as [`NewIntervention`] and [`InterventionPatch`] say; these are their on-queue
//! twins, and the conversions between them keep every other member as it is.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{InterventionPatch, NewIntervention, RemoteToken, double_option};

/// A remote bearer token sealed for the intervention service: `sealed:v1:` and the
/// base64 of an X25519 sealed box (libsodium `crypto_box_seal`) made with the service's
/// public key. Only the service's private key opens it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct SealedRemoteToken(pub String);

impl fmt::Debug for SealedRemoteToken {
    // Harmless to show, but long and of no use in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedRemoteToken({} chars)", self.0.len())
    }
}

/// `intervention.define`'s definition: [`NewIntervention`] with the token sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealedNewIntervention {
    /// Contract name.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Queue the created tickets land in.
    pub queue_name: String,
    /// Notify the inbox managers of new tickets.
    #[serde(default)]
    pub notify_inbox_managers: bool,
    /// The seed's `fma_inbox_managers` flag.
    #[serde(default)]
    pub fma_inbox_managers: bool,
    /// Whether submissions are sent to the remote's epilog URL.
    #[serde(default)]
    pub remote_enabled: bool,
    /// The remote's name.
    #[serde(default)]
    pub remote_name: Option<String>,
    /// Where epilogs are POSTed.
    #[serde(default)]
    pub remote_epilog_url: Option<String>,
    /// The bearer token, sealed for the intervention service.
    #[serde(default)]
    pub remote_bearer_token_sealed: Option<SealedRemoteToken>,
    /// Epilog request timeout.
    #[serde(default)]
    pub remote_timeout_seconds: Option<i32>,
}

/// `intervention.update`'s changes: [`InterventionPatch`] with the token sealed; absent
/// members stay, `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealedInterventionPatch {
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_inbox_managers: Option<bool>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fma_inbox_managers: Option<bool>,
    /// New flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_enabled: Option<bool>,
    /// New remote name, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_name: Option<Option<String>>,
    /// New epilog URL, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_epilog_url: Option<Option<String>>,
    /// New bearer token sealed for the intervention service, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_bearer_token_sealed: Option<Option<SealedRemoteToken>>,
    /// New timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_timeout_seconds: Option<i32>,
}

impl NewIntervention {
    /// This definition as `intervention.define` carries it, the token through `seal`.
    pub fn seal_token<E>(
        self,
        seal: impl FnOnce(RemoteToken) -> Result<SealedRemoteToken, E>,
    ) -> Result<SealedNewIntervention, E> {
        Ok(SealedNewIntervention {
            name: self.name,
            title: self.title,
            queue_name: self.queue_name,
            notify_inbox_managers: self.notify_inbox_managers,
            fma_inbox_managers: self.fma_inbox_managers,
            remote_enabled: self.remote_enabled,
            remote_name: self.remote_name,
            remote_epilog_url: self.remote_epilog_url,
            remote_bearer_token_sealed: self.remote_bearer_token.map(seal).transpose()?,
            remote_timeout_seconds: self.remote_timeout_seconds,
        })
    }
}

impl SealedNewIntervention {
    /// The definition as the caller sent it, the token through `open`.
    pub fn open_token<E>(
        self,
        open: impl FnOnce(SealedRemoteToken) -> Result<RemoteToken, E>,
    ) -> Result<NewIntervention, E> {
        Ok(NewIntervention {
            name: self.name,
            title: self.title,
            queue_name: self.queue_name,
            notify_inbox_managers: self.notify_inbox_managers,
            fma_inbox_managers: self.fma_inbox_managers,
            remote_enabled: self.remote_enabled,
            remote_name: self.remote_name,
            remote_epilog_url: self.remote_epilog_url,
            remote_bearer_token: self.remote_bearer_token_sealed.map(open).transpose()?,
            remote_timeout_seconds: self.remote_timeout_seconds,
        })
    }
}

impl InterventionPatch {
    /// These changes as `intervention.update` carries them, a new token through `seal`.
    pub fn seal_token<E>(
        self,
        seal: impl FnOnce(RemoteToken) -> Result<SealedRemoteToken, E>,
    ) -> Result<SealedInterventionPatch, E> {
        Ok(SealedInterventionPatch {
            title: self.title,
            queue_name: self.queue_name,
            notify_inbox_managers: self.notify_inbox_managers,
            fma_inbox_managers: self.fma_inbox_managers,
            remote_enabled: self.remote_enabled,
            remote_name: self.remote_name,
            remote_epilog_url: self.remote_epilog_url,
            remote_bearer_token_sealed: self
                .remote_bearer_token
                .map(|token| token.map(seal).transpose())
                .transpose()?,
            remote_timeout_seconds: self.remote_timeout_seconds,
        })
    }
}

impl SealedInterventionPatch {
    /// The changes as the caller sent them, a new token through `open`.
    pub fn open_token<E>(
        self,
        open: impl FnOnce(SealedRemoteToken) -> Result<RemoteToken, E>,
    ) -> Result<InterventionPatch, E> {
        Ok(InterventionPatch {
            title: self.title,
            queue_name: self.queue_name,
            notify_inbox_managers: self.notify_inbox_managers,
            fma_inbox_managers: self.fma_inbox_managers,
            remote_enabled: self.remote_enabled,
            remote_name: self.remote_name,
            remote_epilog_url: self.remote_epilog_url,
            remote_bearer_token: self
                .remote_bearer_token_sealed
                .map(|sealed| sealed.map(open).transpose())
                .transpose()?,
            remote_timeout_seconds: self.remote_timeout_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::convert::Infallible;

    use super::*;

    /// Stand-ins for the real sealing (loopdesk-transit): reversible and visible.
    fn seal(token: RemoteToken) -> Result<SealedRemoteToken, Infallible> {
        Ok(SealedRemoteToken(format!("sealed:test:{}", token.0)))
    }

    fn open(sealed: SealedRemoteToken) -> Result<RemoteToken, Infallible> {
        Ok(RemoteToken(sealed.0.replace("sealed:test:", "")))
    }

    fn definition(token: Option<&str>) -> NewIntervention {
        NewIntervention {
            name: "discount_request".into(),
            title: "Discount".into(),
            queue_name: "billing".into(),
            notify_inbox_managers: true,
            fma_inbox_managers: false,
            remote_enabled: true,
            remote_name: Some("Shop".into()),
            remote_epilog_url: Some("https://shop.example/epilog".into()),
            remote_bearer_token: token.map(|t| RemoteToken(t.into())),
            remote_timeout_seconds: Some(7),
        }
    }

    #[test]
    fn a_definition_crosses_with_its_token_sealed_and_everything_else_kept() {
        for token in [Some("rbt-1"), None] {
            let sealed = definition(token).seal_token(seal).unwrap();
            let wire = serde_json::to_value(&sealed).unwrap();
            assert!(wire.get("remote_bearer_token").is_none(), "{wire}");
            assert_eq!(
                wire["remote_bearer_token_sealed"],
                token.map_or(serde_json::Value::Null, |t| format!("sealed:test:{t}")
                    .into())
            );
            let back: SealedNewIntervention = serde_json::from_value(wire).unwrap();
            assert_eq!(back.open_token(open).unwrap(), definition(token));
        }
    }

    #[test]
    fn a_patch_keeps_absent_null_and_new_tokens_apart() {
        let cases = [
            (None, "{}"),
            (Some(None), r#"{"remote_bearer_token_sealed":null}"#),
            (
                Some(Some(RemoteToken("rbt-2".into()))),
                r#"{"remote_bearer_token_sealed":"sealed:test:rbt-2"}"#,
            ),
        ];
        for (token, wire) in cases {
            let patch = InterventionPatch {
                remote_bearer_token: token,
                ..InterventionPatch::default()
            };
            let sealed = patch.clone().seal_token(seal).unwrap();
            assert_eq!(serde_json::to_string(&sealed).unwrap(), wire);
            let back: SealedInterventionPatch = serde_json::from_str(wire).unwrap();
            assert_eq!(back.open_token(open).unwrap(), patch);
        }
    }

    #[test]
    fn a_plaintext_token_is_refused_on_the_queue() {
        let error = serde_json::from_str::<SealedInterventionPatch>(
            r#"{"remote_bearer_token": "rbt-plain"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("unknown field `remote_bearer_token`"),
            "{error}"
        );
        assert!(!error.contains("rbt-plain"), "{error}");
        let definition =
            r#"{"name":"n","title":"t","queue_name":"q","remote_bearer_token":"rbt-plain"}"#;
        assert!(serde_json::from_str::<SealedNewIntervention>(definition).is_err());
    }

    #[test]
    fn a_failed_seal_is_the_callers_error() {
        let refused = definition(Some("rbt-1")).seal_token(|_| Err("no randomness"));
        assert_eq!(refused.unwrap_err(), "no randomness");
        let untouched = definition(None).seal_token(|_| Err("never called"));
        assert!(untouched.is_ok());
    }
}

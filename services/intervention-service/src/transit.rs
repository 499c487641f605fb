//! Remote bearer tokens arrive sealed by the gateway for this service alone
//! (`loopdesk_transit`, keys `secrets.token_private_key` and, while a rotation settles,
//! `secrets.token_previous_private_key`). They are opened here, just before `secrets`
//! encrypts them at rest, and nowhere else.
//!
//! A token that does not open means the gateway sealed it for another key (the two
//! services' keys do not match) or the command was altered: the caller's request was
//! fine, so the command is refused with 503 `remote_token_unreadable` before anything is
//! written. The gateway does not record that answer, so the same request may be retried
//! once the keys match.

use loopdesk_contracts::{
    DomainError,
    interventions::{
        InterventionPatch, NewIntervention, RemoteToken, SealedInterventionPatch,
        SealedNewIntervention, SealedRemoteToken,
    },
};
use loopdesk_transit::{OpenError, PrivateKey};

use crate::apply::ApplyError;

/// Opens the tokens sealed for this service.
#[derive(Debug, Clone)]
pub struct TokenOpener {
    current: PrivateKey,
    previous: Option<PrivateKey>,
}

impl TokenOpener {
    /// An opener with the current key and, during a rotation, the one before it.
    pub fn new(current: PrivateKey, previous: Option<PrivateKey>) -> Self {
        Self { current, previous }
    }

    /// `intervention.define`'s definition with its token opened.
    pub fn definition(
        &self,
        definition: SealedNewIntervention,
    ) -> Result<NewIntervention, ApplyError> {
        definition.open_token(|sealed| self.open(&sealed))
    }

    /// `intervention.update`'s changes with a new token opened.
    pub fn patch(&self, patch: SealedInterventionPatch) -> Result<InterventionPatch, ApplyError> {
        patch.open_token(|sealed| self.open(&sealed))
    }

    fn open(&self, sealed: &SealedRemoteToken) -> Result<RemoteToken, ApplyError> {
        let mut opened = self.current.open(&sealed.0);
        if let (Err(OpenError::Unreadable), Some(previous)) = (&opened, &self.previous) {
            opened = previous.open(&sealed.0);
        }
        let plain = opened.map_err(|e| unreadable(&e))?;
        // The gateway seals text; anything else is not a token it sent.
        String::from_utf8(plain)
            .map(RemoteToken)
            .map_err(|_| unreadable(&"it opened, but is not text"))
    }
}

/// Logs why (never the value) and refuses the command.
fn unreadable(reason: &dyn std::fmt::Display) -> ApplyError {
    tracing::error!(
        %reason,
        "a sealed remote bearer token does not open: the gateway's \
         interventions.token_public_key must be the public half of secrets.token_private_key \
         (or of secrets.token_previous_private_key during a rotation)"
    );
    ApplyError::rejected(DomainError::new(
        503,
        "remote_token_unreadable",
        "Remote token unreadable",
        "the intervention service could not open the bearer token the gateway sealed for it \
         (their keys do not match: a configuration problem on our side). Nothing was changed; \
         retry with the same Idempotency-Key once it is fixed.",
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn definition(sealed: Option<String>) -> SealedNewIntervention {
        SealedNewIntervention {
            name: "discount_request".into(),
            title: "Discount".into(),
            queue_name: "billing".into(),
            notify_inbox_managers: false,
            fma_inbox_managers: false,
            remote_enabled: true,
            remote_name: None,
            remote_epilog_url: Some("https://shop.example/epilog".into()),
            remote_bearer_token_sealed: sealed.map(SealedRemoteToken),
            remote_timeout_seconds: None,
        }
    }

    fn refusal(result: Result<NewIntervention, ApplyError>) -> DomainError {
        match result {
            Err(ApplyError::Rejected(error)) => *error,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_sealed_by_the_gateway_opens_into_the_definition() {
        let key = PrivateKey::generate();
        let sealed = key.public_key().seal(b"rbt-secret-token").unwrap();
        let opener = TokenOpener::new(key, None);
        let opened = opener.definition(definition(Some(sealed))).unwrap();
        assert_eq!(
            opened.remote_bearer_token,
            Some(RemoteToken("rbt-secret-token".into()))
        );
        assert_eq!(opened.name, "discount_request");
        assert_eq!(
            opener
                .definition(definition(None))
                .unwrap()
                .remote_bearer_token,
            None
        );
    }

    #[test]
    fn a_patch_opens_a_new_token_and_keeps_a_clear() {
        let key = PrivateKey::generate();
        let sealed = key.public_key().seal(b"rbt-new").unwrap();
        let opener = TokenOpener::new(key, None);
        let set = SealedInterventionPatch {
            remote_bearer_token_sealed: Some(Some(SealedRemoteToken(sealed))),
            ..SealedInterventionPatch::default()
        };
        assert_eq!(
            opener.patch(set).unwrap().remote_bearer_token,
            Some(Some(RemoteToken("rbt-new".into())))
        );
        let clear = SealedInterventionPatch {
            remote_bearer_token_sealed: Some(None),
            ..SealedInterventionPatch::default()
        };
        assert_eq!(opener.patch(clear).unwrap().remote_bearer_token, Some(None));
    }

    #[test]
    fn the_previous_key_still_opens_during_a_rotation() {
        let (old, new) = (PrivateKey::generate(), PrivateKey::generate());
        let sealed_for_old = old.public_key().seal(b"rbt-old").unwrap();
        let sealed_for_new = new.public_key().seal(b"rbt-new").unwrap();
        let opener = TokenOpener::new(new, Some(old));
        for (sealed, token) in [(sealed_for_old, "rbt-old"), (sealed_for_new, "rbt-new")] {
            let opened = opener.definition(definition(Some(sealed))).unwrap();
            assert_eq!(opened.remote_bearer_token, Some(RemoteToken(token.into())));
        }
    }

    #[test]
    fn a_wrong_key_tampering_or_garbage_is_refused_without_the_value() {
        let gateway_key = PrivateKey::generate().public_key();
        let opener = TokenOpener::new(PrivateKey::generate(), Some(PrivateKey::generate()));
        let sealed = gateway_key.seal(b"rbt-secret-token").unwrap();
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for value in [
            sealed,
            tampered,
            "rbt-secret-token".to_owned(),
            "sealed:v1:%%%".to_owned(),
            "sealed:v9:AAAA".to_owned(),
        ] {
            let error = refusal(opener.definition(definition(Some(value.clone()))));
            assert_eq!(
                (error.status, error.code.as_str()),
                (503, "remote_token_unreadable")
            );
            assert!(
                !error.detail.contains("rbt-secret-token"),
                "{value}: {error:?}"
            );
        }
    }

    #[test]
    fn a_sealed_value_that_is_not_text_is_refused() {
        let key = PrivateKey::generate();
        let sealed = key.public_key().seal(&[0xff, 0xfe, 0x00]).unwrap();
        let error = refusal(TokenOpener::new(key, None).definition(definition(Some(sealed))));
        assert_eq!(error.code, "remote_token_unreadable");
    }
}

//! Revoked key ids, checked on every request.

use std::{
    collections::HashSet,
    sync::{Arc, PoisonError, RwLock},
};

use loopdesk_contracts::ids::KeyId;

use crate::{AuthError, Claims};

/// An in-memory set of revoked `jti`s, shared between clones. The owner refreshes it
/// from the database; request handlers only read.
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    revoked: Arc<RwLock<HashSet<KeyId>>>,
}

impl RevocationList {
    /// Whether `jti` has been revoked.
    pub fn is_revoked(&self, jti: &KeyId) -> bool {
        // The set is always left consistent, so a writer's panic does not taint it.
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(jti)
    }

    /// Refuses claims whose `jti` has been revoked.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.is_revoked(&claims.jti) {
            Err(AuthError::Revoked)
        } else {
            Ok(())
        }
    }

    /// Adds one revoked key.
    pub fn insert(&self, jti: KeyId) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(jti);
    }

    /// Replaces the whole set, e.g. after reloading it from the database.
    pub fn replace_all(&self, jtis: impl IntoIterator<Item = KeyId>) {
        let fresh: HashSet<KeyId> = jtis.into_iter().collect();
        *self.revoked.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// How many keys are revoked.
    pub fn len(&self) -> usize {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_set_and_replace_all_drops_old_entries() {
        let list = RevocationList::default();
        let reader = list.clone();
        let (a, b) = (KeyId::generate(), KeyId::generate());
        assert!(!reader.is_revoked(&a));
        list.insert(a);
        assert!(reader.is_revoked(&a));
        list.replace_all([b]);
        assert!(!reader.is_revoked(&a));
        assert!(reader.is_revoked(&b));
        assert_eq!(reader.len(), 1);
    }
}

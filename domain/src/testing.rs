//! Test support for aggregate tests: an in-memory answer to the domain's lookups.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{AggregateKind, Deps, DomainError, LegalRules, Lookups};

/// Lookups answered from a fixed set of existing aggregates and of authorities' succession dates.
pub struct Known(
    pub HashSet<(AggregateKind, Uuid)>,
    pub HashMap<Uuid, NaiveDate>,
);

#[async_trait]
impl Lookups for Known {
    async fn exists(&self, kind: AggregateKind, id: Uuid) -> Result<bool, DomainError> {
        Ok(self.0.contains(&(kind, id)))
    }

    async fn succeeded_on(&self, authority_id: Uuid) -> Result<Option<NaiveDate>, DomainError> {
        Ok(self.1.get(&authority_id).copied())
    }

    /// Every tenant of the tests has commitment `C-1`.
    async fn tenant_commitments(&self, _tenant_id: Uuid) -> Result<Vec<String>, DomainError> {
        Ok(vec!["C-1".to_owned()])
    }
}

/// Deps in which exactly the given aggregates exist.
pub fn deps_with(existing: &[(AggregateKind, Uuid)]) -> Deps {
    Deps {
        lookups: Arc::new(Known(existing.iter().copied().collect(), HashMap::new())),
        rules: LegalRules::default(),
    }
}

/// Deps in which the given aggregates exist and the given authorities were succeeded on those dates.
pub fn deps_with_successions(
    existing: &[(AggregateKind, Uuid)],
    successions: &[(Uuid, NaiveDate)],
) -> Deps {
    Deps {
        lookups: Arc::new(Known(
            existing.iter().copied().collect(),
            successions.iter().copied().collect(),
        )),
        rules: LegalRules::default(),
    }
}

/// Deps in which nothing else exists.
pub fn no_deps() -> Deps {
    deps_with(&[])
}

/// Parses an RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instants are valid RFC 3339")
}

/// A fixed id for tests: `id(7)` is `00000000-0000-7000-8000-000000000007`.
pub fn id(n: u64) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | n as u128)
}

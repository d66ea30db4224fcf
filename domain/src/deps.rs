//! What the domain needs from outside: lookups of other aggregates, the legal rules in force, and the
//! shape of a breached legal limit that a command's answer names.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::event::AggregateKind;

/// Read-only questions a command handler may ask about other aggregates.
#[async_trait]
pub trait Lookups: Send + Sync {
    /// Whether an aggregate of this kind and id has been created.
    async fn exists(&self, kind: AggregateKind, id: Uuid) -> Result<bool, DomainError>;
}

/// The legal limits the domain judges against. Numbers marked unverified in the legal framework are
/// configuration, not constants; the verified ones have their statutory defaults here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegalRules {
    /// Day of January by which a tenant files its annual environmental report (verified: 15).
    pub tenant_annual_report_due_day: u32,
    /// Day of January by which an infrastructure company files its park's report (verified: 20).
    pub park_annual_report_due_day: u32,
    /// Whether legal limits count calendar days (`true`, the default) or working days; the legal
    /// framework leaves it unverified. Only calendar days are implemented.
    pub calendar_days: bool,
}

impl Default for LegalRules {
    fn default() -> Self {
        Self {
            tenant_annual_report_due_day: 15,
            park_annual_report_due_day: 20,
            calendar_days: true,
        }
    }
}

/// A legal limit the command breached. The command is accepted and recorded all the same: the ledger
/// records breaches so that an auditor can find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// A stable code, such as `annual_report_late`.
    pub limit: String,
    /// What was breached, in words.
    pub detail: String,
}

/// The services every aggregate's `handle` receives.
#[derive(Clone)]
pub struct Deps {
    pub lookups: Arc<dyn Lookups>,
    pub rules: LegalRules,
}

impl Deps {
    /// Refuses the command unless the referenced aggregate exists.
    pub async fn require(
        &self,
        field: &'static str,
        kind: AggregateKind,
        id: Uuid,
    ) -> Result<(), DomainError> {
        if self.lookups.exists(kind, id).await? {
            Ok(())
        } else {
            Err(DomainError::UnknownReference { field, kind, id })
        }
    }
}

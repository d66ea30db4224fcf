//! What the domain needs from outside: lookups of other aggregates, the legal rules in force, and the
//! shape of a breached legal limit that a command's answer names.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::{Calendar, DayCount};
use crate::error::DomainError;
use crate::event::AggregateKind;

/// Read-only questions a command handler may ask about other aggregates.
#[async_trait]
pub trait Lookups: Send + Sync {
    /// Whether an aggregate of this kind and id has been created.
    async fn exists(&self, kind: AggregateKind, id: Uuid) -> Result<bool, DomainError>;
    /// The local date from which an authority has been succeeded (`AuthoritySucceeded` on its own
    /// stream), or `None` while it has not been.
    async fn succeeded_on(&self, authority_id: Uuid) -> Result<Option<NaiveDate>, DomainError>;
    /// The ids of the environmental commitments recorded for a tenant.
    async fn tenant_commitments(&self, tenant_id: Uuid) -> Result<Vec<String>, DomainError>;
}

/// The legal limits the domain judges against. Numbers marked unverified in the legal framework are
/// configuration, not constants; the verified ones have their statutory defaults here. A limit the
/// law does not set is not invented: where the Board sets one as its own policy, it is named so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegalRules {
    /// Day of January by which a tenant files its annual environmental report (verified: 15).
    pub tenant_annual_report_due_day: u32,
    /// Day of January by which an infrastructure company files its park's report (verified: 20).
    pub park_annual_report_due_day: u32,
    /// Whether legal limits count calendar days (`true`, the default) or working days of
    /// [`LegalRules::calendar`]; the legal framework leaves it unverified. Administrative procedures
    /// count working days either way (their processing times are set in working days).
    pub calendar_days: bool,
    /// Days within which an inspection decision reaches the inspected entity, as a difference of
    /// local dates; unannounced inspections are exempt (verified: 5).
    pub inspection_decision_delivery_days: u32,
    /// Longest inspection of one entity, counted inclusively in local days (verified: 7).
    pub inspection_one_entity_days: u32,
    /// The most an extension of a one-entity inspection counts for (verified: 7).
    pub inspection_one_entity_extension_days: u32,
    /// Longest inspection of several entities (verified: 30).
    pub inspection_several_entities_days: u32,
    /// The most an extension of a several-entity inspection counts for (verified: 15).
    pub inspection_several_entities_extension_days: u32,
    /// Hours from an incident's detection to its first notification that the Board sets as its own
    /// policy, applied only where no coordination agreement governs the park. The law sets no hour
    /// limit (it says only "promptly"), so there is no default: with neither an agreement nor a
    /// policy, a notification is not judged (and the answer says so). A value set here is named as
    /// the Board's policy, never as law: its breach is `incident_notification_late_board_policy`.
    /// (`incident_notification_hours`, the key's former name, is read as the same policy.)
    #[serde(alias = "incident_notification_hours")]
    pub policy_incident_notification_hours: Option<u32>,
    /// The holidays and make-up days working days are counted with: the built-in calendar, or the
    /// file the configuration names (`calendar_file`). Not part of the rules' configuration keys;
    /// read models fingerprint it with the rules, so one judged with another calendar is rebuilt.
    #[serde(skip)]
    pub calendar: Calendar,
}

impl LegalRules {
    /// How the legal limits count days (calendar days unless `calendar_days` is off).
    pub fn days(&self) -> DayCount<'_> {
        if self.calendar_days {
            DayCount::Calendar
        } else {
            DayCount::Working(&self.calendar)
        }
    }

    /// How administrative procedures count days: always in working days.
    pub fn procedure_days(&self) -> DayCount<'_> {
        DayCount::Working(&self.calendar)
    }
}

impl Default for LegalRules {
    fn default() -> Self {
        Self {
            tenant_annual_report_due_day: 15,
            park_annual_report_due_day: 20,
            calendar_days: true,
            inspection_decision_delivery_days: 5,
            inspection_one_entity_days: 7,
            inspection_one_entity_extension_days: 7,
            inspection_several_entities_days: 30,
            inspection_several_entities_extension_days: 15,
            policy_incident_notification_hours: None,
            calendar: Calendar::default(),
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
    /// Refuses a reference to an environmental commitment the tenant does not have on record
    /// (`unknown_commitment`).
    pub async fn require_commitment(
        &self,
        tenant_id: Uuid,
        commitment_id: &str,
    ) -> Result<(), DomainError> {
        let known = self.lookups.tenant_commitments(tenant_id).await?;
        if known.iter().any(|c| c == commitment_id) {
            return Ok(());
        }
        Err(DomainError::rule(
            "unknown_commitment",
            format!(
                "tenant {tenant_id} has no environmental commitment {commitment_id:?} on record; record it first, or leave commitment_id empty"
            ),
        ))
    }

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

    /// Refuses the command unless the authority exists and had not been succeeded by `on`, the
    /// business date of the duty the command gives it (`duty` words it): an authority that has been
    /// succeeded takes no new duties, its successor does (rule `authority_succeeded`).
    pub async fn require_in_office(
        &self,
        field: &'static str,
        authority_id: Uuid,
        on: NaiveDate,
        duty: &str,
    ) -> Result<(), DomainError> {
        self.require(field, AggregateKind::Authority, authority_id)
            .await?;
        match self.lookups.succeeded_on(authority_id).await? {
            Some(succeeded_on) if succeeded_on <= on => Err(DomainError::rule(
                "authority_succeeded",
                format!(
                    "{field}: authority {authority_id} was succeeded from {succeeded_on}; it takes no new \
                     duties from then ({duty} on {on}); name its successor"
                ),
            )),
            _ => Ok(()),
        }
    }
}

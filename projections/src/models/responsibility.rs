//! Audit question 8: for park P on date D, the responsible authority, the infrastructure company and
//! the coordination agreement in force, with the succession that replaced a ceased authority.
//!
//! The facts are effective-dated, and the log may record them out of business order (a jurisdiction
//! recorded in 2025 that took effect in 2006), so this model keeps the [`Registry`]'s timelines and
//! answers "on date D" at query time: the latest row effective on or before D.

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::AnyConnection;

use super::registry::{
    AgreementRow, AuthorityRow, CompanyRow, LevelsRow, ParkRow, Registry, is_registry_event,
};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

// ---------------------------------------------------------------------------------------------
// The model and its query.
// ---------------------------------------------------------------------------------------------

/// The read model of audit question 8.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResponsibilityModel;

impl ResponsibilityModel {
    const REGISTRY: Registry = Registry {
        prefix: "responsibility",
    };
}

impl Named for ResponsibilityModel {
    /// The model's name: its checkpoint row and its tables' prefix.
    const NAME: &'static str = "responsibility";
}

const RESPONSIBILITY_TABLES: &[&str] = &[
    "responsibility_authorities",
    "responsibility_companies",
    "responsibility_parks",
    "responsibility_jurisdictions",
    "responsibility_park_companies",
    "responsibility_agreements",
    "responsibility_agreement_companies",
    "responsibility_agreement_levels",
];

#[async_trait]
impl ReadModel for ResponsibilityModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        RESPONSIBILITY_TABLES
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        Self::REGISTRY.create(g)
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut i = 0;
        while i < events.len() {
            let run = Self::REGISTRY
                .apply_company_run(conn, g, &events[i..])
                .await?;
            if run > 0 {
                i += run;
                continue;
            }
            let e = &events[i];
            i += 1;
            if is_registry_event(&e.event) {
                Self::REGISTRY.apply(conn, g, e).await?;
            }
        }
        Ok(())
    }
}

/// The authority assigned to a park on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedAuthority {
    pub authority: AuthorityRow,
    /// The `effective_from` of the `JurisdictionAssigned` in force.
    pub assigned_from: NaiveDate,
}

/// The company assigned to a park on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedCompany {
    pub company: CompanyRow,
    pub assigned_from: NaiveDate,
}

/// The agreement in force on the date, with the service levels that applied then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementInForce {
    pub agreement: AgreementRow,
    pub levels: Option<LevelsRow>,
    /// Signed by an authority that the responsible one had succeeded, not by the responsible one.
    pub inherited: bool,
}

/// The answer to audit question 8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkResponsibility {
    pub park: ParkRow,
    pub date: NaiveDate,
    /// The authority the park's jurisdiction names on the date.
    pub assigned: Option<AssignedAuthority>,
    /// When the assigned authority had ceased by the date: each succession in turn, the assigned
    /// authority first. The successor of the last entry is the authority in office.
    pub successions: Vec<AuthorityRow>,
    /// The authority in office on the date: the assigned one, or its last successor.
    pub responsible: Option<AuthorityRow>,
    pub company: Option<AssignedCompany>,
    pub agreement: Option<AgreementInForce>,
}

impl Queries<'_, ResponsibilityModel> {
    /// Audit question 8: who was responsible for park `park_id` on `date`, and which regulation
    /// applied, once the model has applied `min_position`; `None` when the park is unknown.
    pub async fn park(
        &self,
        min_position: u64,
        park_id: &str,
        date: NaiveDate,
    ) -> Result<Option<ParkResponsibility>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        park_responsibility(&mut r.conn, &r.generation, park_id, date).await
    }
}

/// Audit question 8: who was responsible for a park on a date, and which regulation applied.
///
/// Every lookup is one primary-key range read ("latest row on or before D"): `(park_id,
/// effective_from)` for the jurisdiction and the company, `(company_id, agreement_id)` then the
/// agreement's key for the agreement, `(agreement_id, effective_from)` for its levels. `None` when the
/// park is unknown.
pub(crate) async fn park_responsibility(
    conn: &mut AnyConnection,
    g: &Generation,
    park_id: &str,
    date: NaiveDate,
) -> Result<Option<ParkResponsibility>, ProjectionError> {
    let r = ResponsibilityModel::REGISTRY;
    let Some(park) = r.park(conn, g, park_id).await? else {
        return Ok(None);
    };
    let mut assigned = None;
    let mut successions = Vec::new();
    let mut responsible = None;
    if let Some((authority_id, from)) = r.jurisdiction_at(conn, g, park_id, date).await?
        && let Some(a) = r.authority(conn, g, &authority_id).await?
    {
        successions = r.successions_by(conn, g, &authority_id, date).await?;
        responsible = match successions.last().and_then(|s| s.successor_id.clone()) {
            Some(successor) => r.authority(conn, g, &successor).await?,
            None => Some(a.clone()),
        };
        assigned = Some(AssignedAuthority {
            authority: a,
            assigned_from: from,
        });
    }
    let mut company = None;
    if let Some((company_id, from)) = r.company_at(conn, g, park_id, date).await? {
        company = r
            .company(conn, g, &company_id)
            .await?
            .map(|c| AssignedCompany {
                company: c,
                assigned_from: from,
            });
    }
    let mut agreement = None;
    if let (Some(a), Some(c)) = (&assigned, &company)
        // One resolver for every question (kcn_domain::governing): the assigned authority followed
        // through its successions, its own agreement or else one inherited from a predecessor.
        && let Some((row, inherited)) = r
            .agreement_in_force(
                conn,
                g,
                &a.authority.authority_id,
                &c.company.company_id,
                date,
            )
            .await?
    {
        let levels = r.levels_at(conn, g, &row.agreement_id, date).await?;
        agreement = Some(AgreementInForce {
            agreement: row,
            levels,
            inherited,
        });
    }
    Ok(Some(ParkResponsibility {
        park,
        date,
        assigned,
        successions,
        responsible,
        company,
        agreement,
    }))
}

//! The register of breaches: every legal-limit or service-level breach in a period, by park, company,
//! authority and kind, each linked to its events.
//!
//! The model keeps one row per **obligation**: a notification owed after an incident's detection, an
//! answer owed to an information request, a decision to deliver, an inspection to conclude within its
//! limit, a remediation to verify, an annual task to complete, a dossier to decide, and the
//! breaches that happen in one act (an extension beyond its cap or a second one, an annual report
//! filed late). Each row holds its deadline (`due_on`, and `due_at` when the limit is counted in
//! instants), when it was fulfilled, and the breach code and wording when it was fulfilled late,
//! computed by the same functions the command path judges with ([`kcn_domain::limits`]), so every
//! breach a command's answer names is in the register under the same code. What is still owed is
//! judged when the register is asked, against the caller's `as_of`.
//!
//! A breach's date is its deadline: a period holds the breaches whose deadline falls in it. The park's
//! authority and company are resolved at the obligation's date through the model's own registry, and
//! judged again when a jurisdiction, a company assignment, an agreement or a succession is recorded
//! later with an earlier effective date, as are the deadlines that agreements set.
//!
//! The limits that the configured [`LegalRules`] set are applied as the events arrive, so the model's
//! version includes a fingerprint of the rules: a server started with other rules rebuilds it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::annual_plan::AnnualPlanEvent;
use kcn_domain::consultation::ConsultationEvent;
use kcn_domain::incident::IncidentEvent;
use kcn_domain::information_exchange::{ExchangeEvent, OrganisationKind};
use kcn_domain::inspection::{InspectionEvent, InspectionKind};
use kcn_domain::park::ParkEvent;
use kcn_domain::procedure::ProcedureEvent;
use kcn_domain::tenant::TenantEvent;
use kcn_domain::time::local_date;
use kcn_domain::{Breach, Event, LegalRules, limits};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::registry::{Change, Registry, is_registry_event};
use super::sql::{Args, limit};
use super::stored::{corrupt, day, instant, opt_day, parse_day, parse_instant};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The register's read model, judging with the configured rules.
#[derive(Debug, Default, Clone)]
pub struct BreachesModel {
    pub rules: LegalRules,
}

impl Named for BreachesModel {
    const NAME: &'static str = "breaches";
}

const OBLIGATIONS: &str = "breach_obligations";
const INSPECTIONS: &str = "breach_inspections";
const TENANTS: &str = "breach_tenants";
const REGISTRY: Registry = Registry { prefix: "breach" };
/// The model's own version, before the rules' fingerprint.
/// 4: each inspected tenant's own decision delivery. 5: quarterly reports.
const VERSION: u32 = 5;

/// What an obligation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obligation {
    Notification,
    Answer,
    Delivery,
    Duration,
    Extension,
    /// An announced inspection that started before its decision was delivered.
    Start,
    /// A consultation's determination, by the agreement's `consultation_answer_days`.
    Consultation,
    /// Infrastructure information, by the agreement's `infrastructure_information_days`.
    Infrastructure,
    Remediation,
    Task,
    /// A task's quarterly report, by the agreement's `quarterly_report_due_day`.
    Quarterly,
    Dossier,
    Report,
}

impl Obligation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::Answer => "answer",
            Self::Delivery => "delivery",
            Self::Duration => "duration",
            Self::Extension => "extension",
            Self::Start => "start",
            Self::Consultation => "consultation",
            Self::Infrastructure => "infrastructure",
            Self::Remediation => "remediation",
            Self::Task => "task",
            Self::Quarterly => "quarterly",
            Self::Dossier => "dossier",
            Self::Report => "report",
        }
    }

    fn parse(s: &str) -> Result<Self, ProjectionError> {
        Ok(match s {
            "notification" => Self::Notification,
            "answer" => Self::Answer,
            "delivery" => Self::Delivery,
            "duration" => Self::Duration,
            "extension" => Self::Extension,
            "start" => Self::Start,
            "consultation" => Self::Consultation,
            "infrastructure" => Self::Infrastructure,
            "remediation" => Self::Remediation,
            "task" => Self::Task,
            "quarterly" => Self::Quarterly,
            "dossier" => Self::Dossier,
            "report" => Self::Report,
            other => return Err(corrupt(format!("obligation kind {other:?}"))),
        })
    }
}

/// What the register needs to judge an obligation again or word what is still owed (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Facts {
    /// Notification: when the incident was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detected_at: Option<DateTime<Utc>>,
    /// Answer: the request's own due time, and its parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    company_party: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authority_party: Option<String>,
    /// Delivery, duration: the decision's issue date; the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_on: Option<NaiveDate>,
    /// Dossier: its procedure and promised days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    procedure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    promised_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_on: Option<NaiveDate>,
    /// Infrastructure information: the day it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reported_on: Option<NaiveDate>,
    /// Quarterly report: the task, the plan's year and the quarter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    year: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quarter: Option<u32>,
}

impl BreachesModel {
    /// The model judging with `rules`.
    pub fn new(rules: LegalRules) -> Self {
        Self { rules }
    }
}

#[async_trait]
impl ReadModel for BreachesModel {
    fn name(&self) -> &'static str {
        <Self as Named>::NAME
    }

    /// The model's own version and a fingerprint of the rules it judges with.
    fn version(&self) -> u32 {
        super::rules_versioned(VERSION, &self.rules)
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            OBLIGATIONS,
            INSPECTIONS,
            TENANTS,
            "breach_authorities",
            "breach_companies",
            "breach_parks",
            "breach_jurisdictions",
            "breach_park_companies",
            "breach_agreements",
            "breach_agreement_companies",
            "breach_agreement_levels",
        ]
    }

    /// `by_due` serves a period in deadline order; `by_park`, `by_company` and `by_authority` the
    /// same for one party; `by_aggregate` finds an aggregate's obligations as its events arrive;
    /// `by_rejudge` the obligations a registry change may affect.
    fn create(&self, g: &Generation) -> Vec<String> {
        let o = g.table(OBLIGATIONS);
        let mut ddl = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {o} (obligation_id TEXT PRIMARY KEY, kind TEXT NOT NULL, \
                 aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, item_id TEXT, \
                 park_id TEXT, tenant_id TEXT, company_id TEXT, authority_id TEXT, \
                 on_date TEXT NOT NULL, due_on TEXT, due_at TEXT, agreement_id TEXT, \
                 done_on TEXT, done_at TEXT, open BIGINT NOT NULL, late_limit TEXT, late_detail TEXT, \
                 facts TEXT NOT NULL, first_position BIGINT NOT NULL, done_position BIGINT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (due_on, obligation_id)",
                g.table("breach_obligations_by_due")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (park_id, due_on, obligation_id)",
                g.table("breach_obligations_by_park")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (company_id, due_on, obligation_id)",
                g.table("breach_obligations_by_company")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (authority_id, due_on, obligation_id)",
                g.table("breach_obligations_by_authority")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (aggregate_id, kind)",
                g.table("breach_obligations_by_aggregate")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {o} (park_id, on_date)",
                g.table("breach_obligations_by_rejudge")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (inspection_id TEXT PRIMARY KEY, park_id TEXT NOT NULL, \
                 tenant_ids TEXT NOT NULL, announced BIGINT NOT NULL, entities BIGINT NOT NULL, \
                 extensions TEXT NOT NULL, findings TEXT NOT NULL, started_on TEXT, deliveries TEXT NOT NULL)",
                g.table(INSPECTIONS)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (tenant_id TEXT PRIMARY KEY, park_id TEXT NOT NULL)",
                g.table(TENANTS)
            ),
        ];
        ddl.extend(REGISTRY.create(g));
        ddl
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut i = 0;
        while i < events.len() {
            let run = REGISTRY.apply_company_run(conn, g, &events[i..]).await?;
            if run > 0 {
                i += run;
                continue;
            }
            let e = &events[i];
            i += 1;
            if is_registry_event(&e.event) {
                if let Some(change) = REGISTRY.apply(conn, g, e).await? {
                    rejudge(conn, g, &self.rules, &change).await?;
                }
                // A park's annual report is a park event too.
                if !matches!(
                    &e.event,
                    Event::Park(
                        ParkEvent::ParkAnnualEnvironmentalReportSubmitted(_)
                            | ParkEvent::EnvironmentalInfrastructureReported(_)
                    )
                ) {
                    continue;
                }
            }
            self.apply_one(conn, g, e).await?;
        }
        Ok(())
    }
}

/// An obligation as it is first recorded.
struct Opening<'a> {
    id: String,
    kind: Obligation,
    e: &'a Envelope,
    item_id: Option<String>,
    park_id: Option<String>,
    tenant_id: Option<String>,
    /// The date the park's parties are resolved at.
    on_date: NaiveDate,
    due_on: Option<NaiveDate>,
    facts: Facts,
    /// Open obligations can become overdue; a breach in one act is closed at once.
    open: bool,
    /// For a breach in one act: its code, wording and date.
    done: Option<(NaiveDate, Breach)>,
    /// The company or authority the act names, when the park does not say.
    company_id: Option<String>,
    authority_id: Option<String>,
}

impl<'a> Opening<'a> {
    fn new(id: String, kind: Obligation, e: &'a Envelope, on_date: NaiveDate) -> Self {
        Self {
            id,
            kind,
            e,
            item_id: None,
            park_id: None,
            tenant_id: None,
            on_date,
            due_on: None,
            facts: Facts::default(),
            open: true,
            done: None,
            company_id: None,
            authority_id: None,
        }
    }
}

impl BreachesModel {
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        e: &Envelope,
    ) -> Result<(), ProjectionError> {
        let id = e.aggregate_id();
        let on = local_date(e.occurred_at);
        match &e.event {
            Event::Tenant(TenantEvent::TenantRegistered(t)) => {
                Args::default()
                    .execute_with(conn, |a| {
                        format!(
                            "INSERT INTO {} (tenant_id, park_id) VALUES ({}, {}) \
                             ON CONFLICT (tenant_id) DO NOTHING",
                            g.table(TENANTS),
                            a.text(id),
                            a.text(t.park_id.to_string())
                        )
                    })
                    .await?;
            }
            Event::Tenant(TenantEvent::AnnualEnvironmentalReportSubmitted(r)) => {
                if let Some(b) = limits::annual_report_late(
                    limits::ReportFiler::Tenant,
                    &self.rules,
                    r.year,
                    r.submitted_on,
                ) {
                    let park = tenant_park(conn, g, id).await?;
                    let due =
                        limits::annual_report_due(r.year, self.rules.tenant_annual_report_due_day);
                    let mut n = Opening::new(
                        format!("report:{id}:{}", r.year),
                        Obligation::Report,
                        e,
                        r.submitted_on,
                    );
                    n.park_id = park;
                    n.tenant_id = Some(id.to_owned());
                    n.due_on = due;
                    n.item_id = Some(r.year.to_string());
                    n.open = false;
                    n.done = Some((r.submitted_on, b));
                    insert(conn, g, n).await?;
                }
            }
            Event::Park(ParkEvent::ParkAnnualEnvironmentalReportSubmitted(r)) => {
                if let Some(b) = limits::annual_report_late(
                    limits::ReportFiler::Park,
                    &self.rules,
                    r.year,
                    r.submitted_on,
                ) {
                    let due =
                        limits::annual_report_due(r.year, self.rules.park_annual_report_due_day);
                    let mut n = Opening::new(
                        format!("report:{id}:{}", r.year),
                        Obligation::Report,
                        e,
                        r.submitted_on,
                    );
                    n.park_id = Some(id.to_owned());
                    n.company_id = Some(r.company_id.to_string());
                    n.due_on = due;
                    n.item_id = Some(r.year.to_string());
                    n.open = false;
                    n.done = Some((r.submitted_on, b));
                    insert(conn, g, n).await?;
                }
            }
            Event::Incident(IncidentEvent::IncidentReported(r)) => {
                let mut n = Opening::new(
                    format!("notification:{id}"),
                    Obligation::Notification,
                    e,
                    local_date(r.detected_at),
                );
                n.park_id = Some(r.park_id.to_string());
                n.tenant_id = r.tenant_id.map(|t| t.to_string());
                n.facts.detected_at = Some(r.detected_at);
                insert(conn, g, n).await?;
                judge_resolved(conn, g, &self.rules, &format!("notification:{id}")).await?;
            }
            Event::Incident(IncidentEvent::IncidentNotificationSent(s)) => {
                fulfil_at(
                    conn,
                    g,
                    &self.rules,
                    &format!("notification:{id}"),
                    e,
                    s.sent_at,
                )
                .await?;
            }
            Event::InformationExchange(ExchangeEvent::InformationRequested(r)) => {
                let mut n = Opening::new(format!("answer:{id}"), Obligation::Answer, e, on);
                n.park_id = r.park_id.map(|p| p.to_string());
                n.facts.due_at = r.due_at;
                n.facts.requested_at = Some(e.occurred_at);
                for party in [&r.from, &r.to] {
                    match party.kind {
                        OrganisationKind::InfrastructureCompany => {
                            n.facts.company_party = Some(party.id.to_string());
                        }
                        OrganisationKind::Authority => {
                            n.facts.authority_party = Some(party.id.to_string());
                        }
                    }
                }
                insert(conn, g, n).await?;
                judge_resolved(conn, g, &self.rules, &format!("answer:{id}")).await?;
            }
            Event::InformationExchange(ExchangeEvent::InformationProvided(_)) => {
                fulfil_at(
                    conn,
                    g,
                    &self.rules,
                    &format!("answer:{id}"),
                    e,
                    e.occurred_at,
                )
                .await?;
            }
            Event::InformationExchange(
                ExchangeEvent::ExchangeWithdrawn(_) | ExchangeEvent::ExchangeClosed(_),
            ) => {
                close(conn, g, &format!("answer:{id}")).await?;
            }
            Event::IndustryConsultation(ConsultationEvent::ConsultationOpened(c)) => {
                let obligation = format!("consultation:{id}");
                let mut n = Opening::new(obligation.clone(), Obligation::Consultation, e, on);
                n.park_id = Some(c.park_id.to_string());
                insert(conn, g, n).await?;
                judge_resolved(conn, g, &self.rules, &obligation).await?;
            }
            Event::IndustryConsultation(ConsultationEvent::SuitabilityDetermined(_)) => {
                fulfil_at(
                    conn,
                    g,
                    &self.rules,
                    &format!("consultation:{id}"),
                    e,
                    e.occurred_at,
                )
                .await?;
            }
            Event::IndustryConsultation(ConsultationEvent::ConsultationWithdrawn(_)) => {
                close(conn, g, &format!("consultation:{id}")).await?;
            }
            Event::Park(ParkEvent::EnvironmentalInfrastructureReported(r)) => {
                // Owed only once reported: the obligation is closed at once, late or not.
                let obligation = format!("infrastructure:{id}:{}", e.position_i64());
                let mut n =
                    Opening::new(obligation.clone(), Obligation::Infrastructure, e, r.as_of);
                n.park_id = Some(id.to_owned());
                n.company_id = Some(r.company_id.to_string());
                n.item_id = Some(r.as_of.to_string());
                n.open = false;
                n.facts.reported_on = Some(on);
                insert(conn, g, n).await?;
                fulfil_on(conn, g, &obligation, e, on, None).await?;
                judge_resolved(conn, g, &self.rules, &obligation).await?;
            }
            Event::Inspection(InspectionEvent::InspectionPlanned(p)) => {
                let tenants: Vec<String> = p.tenant_ids.iter().map(|t| t.to_string()).collect();
                Args::default()
                    .execute_with(conn, |a| {
                        format!(
                            "INSERT INTO {} (inspection_id, park_id, tenant_ids, announced, entities, \
                             extensions, findings, deliveries) \
                             VALUES ({}, {}, {}, {}, {}, '[]', '{{}}', '{{}}') \
                             ON CONFLICT (inspection_id) DO NOTHING",
                            g.table(INSPECTIONS),
                            a.text(id),
                            a.text(p.park_id.to_string()),
                            a.text(serde_json::to_string(&tenants).unwrap_or_default()),
                            a.int(i64::from(p.kind != InspectionKind::Unannounced)),
                            a.int(i64::try_from(p.tenant_ids.len()).unwrap_or(i64::MAX)),
                        )
                    })
                    .await?;
            }
            Event::Inspection(InspectionEvent::InspectionDecisionIssued(d)) => {
                let i = inspection(conn, g, e).await?;
                if i.announced {
                    // Each inspected tenant is owed its own delivery.
                    for tenant in &i.tenant_ids {
                        let mut n = Opening::new(
                            format!("delivery:{id}:{tenant}"),
                            Obligation::Delivery,
                            e,
                            d.issued_on,
                        );
                        n.tenant_id = Some(tenant.clone());
                        n.park_id = Some(i.park_id.clone());
                        n.item_id = Some(tenant.clone());
                        n.due_on = limits::delivery_last_day(&self.rules, d.issued_on);
                        n.facts.issued_on = Some(d.issued_on);
                        insert(conn, g, n).await?;
                    }
                }
            }
            Event::Inspection(InspectionEvent::InspectionDecisionDelivered(d)) => {
                let mut i = inspection(conn, g, e).await?;
                // A version-1 delivery names no tenant and reached every one not yet reached.
                let reached: Vec<String> = if d.tenant_ids.is_empty() {
                    i.tenant_ids
                        .iter()
                        .filter(|t| !i.deliveries.contains_key(*t))
                        .cloned()
                        .collect()
                } else {
                    d.tenant_ids.iter().map(|t| t.to_string()).collect()
                };
                for tenant in &reached {
                    if let Some(o) = row(conn, g, &format!("delivery:{id}:{tenant}")).await?
                        && let Some(issued) = o.facts.issued_on
                    {
                        let judged = limits::decision_delivery(
                            &self.rules,
                            false,
                            issued,
                            Some(d.delivered_on),
                            None,
                        );
                        fulfil_on(conn, g, &o.id, e, d.delivered_on, judged.breach).await?;
                    }
                    i.deliveries.insert(tenant.clone(), d.delivered_on);
                    if let Some(started) = i.started_on {
                        early_start(conn, g, e, &i, tenant, started, d.delivered_on).await?;
                    }
                }
                save_json(conn, g, id, "deliveries", &i.deliveries).await?;
            }
            Event::Inspection(InspectionEvent::InspectionStarted(s)) => {
                let i = inspection(conn, g, e).await?;
                let bounds = limits::InspectionLimits::for_entities(&self.rules, i.entities);
                let counted = limits::extensions(bounds, &i.extensions);
                let mut n = Opening::new(
                    format!("duration:{id}"),
                    Obligation::Duration,
                    e,
                    s.started_on,
                );
                n.park_id = Some(i.park_id.clone());
                n.tenant_id = i.single_tenant();
                n.due_on = limits::inspection_last_day(
                    &self.rules,
                    s.started_on,
                    bounds.limit_days(counted.counted_total),
                );
                n.facts.started_on = Some(s.started_on);
                insert(conn, g, n).await?;
                save_inspection_day(conn, g, id, "started_on", s.started_on).await?;
                for (tenant, delivered) in &i.deliveries {
                    early_start(conn, g, e, &i, tenant, s.started_on, *delivered).await?;
                }
            }
            Event::Inspection(InspectionEvent::InspectionExtended(x)) => {
                let mut i = inspection(conn, g, e).await?;
                let bounds = limits::InspectionLimits::for_entities(&self.rules, i.entities);
                let index = i.extensions.len();
                if let Some(b) = limits::extension_breach(bounds, index, x.days, on) {
                    let mut n = Opening::new(
                        format!("extension:{id}:{}", index + 1),
                        Obligation::Extension,
                        e,
                        on,
                    );
                    n.park_id = Some(i.park_id.clone());
                    n.tenant_id = i.single_tenant();
                    n.due_on = Some(on);
                    n.item_id = Some((index + 1).to_string());
                    n.open = false;
                    n.done = Some((on, b));
                    insert(conn, g, n).await?;
                }
                i.extensions.push(x.days);
                save_json(conn, g, id, "extensions", &i.extensions).await?;
                // The inspection's limit grows with its counted extension.
                if let Some(o) = row(conn, g, &format!("duration:{id}")).await?
                    && let Some(started) = o.facts.started_on
                {
                    let counted = limits::extensions(bounds, &i.extensions);
                    let due = limits::inspection_last_day(
                        &self.rules,
                        started,
                        bounds.limit_days(counted.counted_total),
                    );
                    set_due(conn, g, &o.id, due, None, None).await?;
                }
            }
            Event::Inspection(InspectionEvent::InspectionConcluded(c)) => {
                let i = inspection(conn, g, e).await?;
                if let Some(o) = row(conn, g, &format!("duration:{id}")).await?
                    && let Some(started) = o.facts.started_on
                {
                    let bounds = limits::InspectionLimits::for_entities(&self.rules, i.entities);
                    let counted = limits::extensions(bounds, &i.extensions);
                    let judged = limits::inspection_duration(
                        &self.rules,
                        bounds,
                        counted.counted_total,
                        started,
                        Some(c.concluded_on),
                        None,
                    );
                    fulfil_on(conn, g, &o.id, e, c.concluded_on, judged.breach).await?;
                }
            }
            Event::Inspection(InspectionEvent::InspectionClosed(_)) => {
                close(conn, g, &format!("duration:{id}")).await?;
                let i = inspection(conn, g, e).await?;
                for tenant in &i.tenant_ids {
                    close(conn, g, &format!("delivery:{id}:{tenant}")).await?;
                }
            }
            Event::Inspection(InspectionEvent::FindingRecorded(f)) => {
                let mut i = inspection(conn, g, e).await?;
                i.findings
                    .insert(f.finding_id.as_str().to_owned(), f.tenant_id.to_string());
                Args::default()
                    .execute_with(conn, |a| {
                        format!(
                            "UPDATE {} SET findings = {} WHERE inspection_id = {}",
                            g.table(INSPECTIONS),
                            a.text(serde_json::to_string(&i.findings).unwrap_or_default()),
                            a.text(id)
                        )
                    })
                    .await?;
            }
            Event::Inspection(InspectionEvent::RemediationRequired(r)) => {
                let i = inspection(conn, g, e).await?;
                let finding = r.finding_id.as_str();
                let mut n = Opening::new(
                    format!("remediation:{id}:{finding}"),
                    Obligation::Remediation,
                    e,
                    on,
                );
                n.park_id = Some(i.park_id.clone());
                n.tenant_id = i.findings.get(finding).cloned();
                n.item_id = Some(finding.to_owned());
                n.due_on = Some(r.due_on);
                insert(conn, g, n).await?;
            }
            Event::Inspection(InspectionEvent::RemediationVerified(v)) => {
                let oid = format!("remediation:{id}:{}", v.finding_id.as_str());
                if let Some(o) = row(conn, g, &oid).await?
                    && let Some(due) = o.due_on
                {
                    let b = limits::remediation_verified_late(v.finding_id.as_str(), due, on);
                    fulfil_on(conn, g, &oid, e, on, b).await?;
                }
            }
            Event::AnnualPlan(AnnualPlanEvent::AnnualTasksIssued(p)) => {
                for t in &p.tasks {
                    let task = t.task_id.as_str();
                    let mut n =
                        Opening::new(format!("task:{id}:{task}"), Obligation::Task, e, t.due_on);
                    n.park_id = t.park_id.map(|p| p.to_string());
                    n.item_id = Some(task.to_owned());
                    n.due_on = Some(t.due_on);
                    n.company_id = Some(t.assignee_company_id.to_string());
                    n.authority_id = Some(p.authority_id.to_string());
                    insert(conn, g, n).await?;
                    // A quarterly report is owed on each quarter of the plan's year the task is
                    // open in (from the issue to its due date), due where an agreement sets a day.
                    let year = i32::try_from(p.year).unwrap_or(i32::MAX);
                    for quarter in 1..=4 {
                        let Some((first, last)) = limits::quarter_bounds(year, quarter) else {
                            continue;
                        };
                        if first > t.due_on || last < p.issued_on {
                            continue;
                        }
                        let oid = format!("quarterly:{id}:{task}:{quarter}");
                        let mut n = Opening::new(oid.clone(), Obligation::Quarterly, e, last);
                        n.park_id = t.park_id.map(|p| p.to_string());
                        n.item_id = Some(format!("{task}:Q{quarter}"));
                        n.company_id = Some(t.assignee_company_id.to_string());
                        n.authority_id = Some(p.authority_id.to_string());
                        n.facts.task_id = Some(task.to_owned());
                        n.facts.year = Some(year);
                        n.facts.quarter = Some(quarter);
                        insert(conn, g, n).await?;
                        judge_resolved(conn, g, &self.rules, &oid).await?;
                    }
                }
            }
            Event::AnnualPlan(AnnualPlanEvent::TaskProgressReported(r)) => {
                if let Some(quarter) = r.quarter {
                    let oid = format!("quarterly:{id}:{}:{quarter}", r.task_id.as_str());
                    fulfil_at(conn, g, &self.rules, &oid, e, e.occurred_at).await?;
                }
            }
            Event::AnnualPlan(AnnualPlanEvent::TaskCompleted(c)) => {
                let oid = format!("task:{id}:{}", c.task_id.as_str());
                if let Some(o) = row(conn, g, &oid).await?
                    && let Some(due) = o.due_on
                {
                    let b = limits::task_completed_late(c.task_id.as_str(), due, c.completed_on);
                    fulfil_on(conn, g, &oid, e, c.completed_on, b).await?;
                }
                // The completion is the task's last report: a quarterly report not yet filed and
                // due on or after it is owed no more.
                for quarter in 1..=4 {
                    let oid = format!("quarterly:{id}:{}:{quarter}", c.task_id.as_str());
                    if let Some(o) = row(conn, g, &oid).await?
                        && o.done_at.is_none()
                        && o.due_on.is_none_or(|due| due >= c.completed_on)
                    {
                        close(conn, g, &oid).await?;
                    }
                }
            }
            Event::AdministrativeProcedure(ProcedureEvent::DossierReceived(d)) => {
                if let Some(promised) = d.promised_days {
                    let mut n = Opening::new(
                        format!("dossier:{id}"),
                        Obligation::Dossier,
                        e,
                        d.received_on,
                    );
                    n.park_id = Some(d.park_id.to_string());
                    n.tenant_id = Some(d.tenant_id.to_string());
                    n.authority_id = Some(d.authority_id.to_string());
                    n.due_on = limits::dossier_due(&self.rules, d.received_on, promised);
                    n.facts.procedure_code = Some(d.procedure_code.as_str().to_owned());
                    n.facts.promised_days = Some(promised);
                    n.facts.received_on = Some(d.received_on);
                    insert(conn, g, n).await?;
                }
            }
            Event::AdministrativeProcedure(ProcedureEvent::DossierDecided(d)) => {
                if let Some(o) = row(conn, g, &format!("dossier:{id}")).await?
                    && let (Some(code), Some(promised), Some(received)) = (
                        o.facts.procedure_code.as_deref(),
                        o.facts.promised_days,
                        o.facts.received_on,
                    )
                {
                    let b = limits::dossier_decided_late(
                        &self.rules,
                        code,
                        promised,
                        received,
                        d.decided_on,
                    );
                    fulfil_on(conn, g, &o.id, e, d.decided_on, b).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Args {
    /// Builds a statement with fresh arguments and runs it.
    async fn execute_with(
        mut self,
        conn: &mut AnyConnection,
        build: impl FnOnce(&mut Args) -> String,
    ) -> Result<(), ProjectionError> {
        let statement = build(&mut self);
        self.execute(conn, statement).await
    }
}

/// An inspection as the register keeps it.
struct InspectionRow {
    park_id: String,
    tenant_ids: Vec<String>,
    announced: bool,
    entities: usize,
    extensions: Vec<u32>,
    findings: std::collections::BTreeMap<String, String>,
    started_on: Option<NaiveDate>,
    /// Each reached tenant's delivery date.
    deliveries: std::collections::BTreeMap<String, NaiveDate>,
}

impl InspectionRow {
    /// The inspected tenant, when there is one.
    fn single_tenant(&self) -> Option<String> {
        match self.tenant_ids.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

async fn inspection(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
) -> Result<InspectionRow, ProjectionError> {
    let mut args = Args::default();
    let statement = format!(
        "SELECT park_id, tenant_ids, announced, entities, extensions, findings, started_on, \
         deliveries FROM {} WHERE inspection_id = {}",
        g.table(INSPECTIONS),
        args.text(e.aggregate_id())
    );
    let rows = args.fetch_all(conn, statement).await?;
    let r = rows
        .first()
        .ok_or_else(|| e.error("names an inspection that was never planned"))?;
    let json = |i: usize| -> Result<String, ProjectionError> { Ok(r.try_get(i)?) };
    Ok(InspectionRow {
        park_id: r.try_get(0)?,
        tenant_ids: serde_json::from_str(&json(1)?).map_err(corrupt)?,
        announced: r.try_get::<i64, _>(2)? != 0,
        entities: usize::try_from(r.try_get::<i64, _>(3)?).unwrap_or(usize::MAX),
        extensions: serde_json::from_str(&json(4)?).map_err(corrupt)?,
        findings: serde_json::from_str(&json(5)?).map_err(corrupt)?,
        started_on: opt_day(r.try_get(6)?)?,
        deliveries: serde_json::from_str(&json(7)?).map_err(corrupt)?,
    })
}

async fn save_inspection_day(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    column: &'static str,
    on: NaiveDate,
) -> Result<(), ProjectionError> {
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET {column} = {} WHERE inspection_id = {}",
                g.table(INSPECTIONS),
                a.text(day(on)),
                a.text(id)
            )
        })
        .await
}

/// Registers an announced inspection that started before its decision was delivered to `tenant`,
/// judged by the domain's rule when the second of the two is recorded.
async fn early_start(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
    i: &InspectionRow,
    tenant: &str,
    started_on: NaiveDate,
    delivered_on: NaiveDate,
) -> Result<(), ProjectionError> {
    let Some(b) = limits::started_before_delivery(i.announced, started_on, delivered_on) else {
        return Ok(());
    };
    let on = started_on.max(delivered_on);
    let mut n = Opening::new(
        format!("start:{}:{tenant}", e.aggregate_id()),
        Obligation::Start,
        e,
        on,
    );
    n.park_id = Some(i.park_id.clone());
    n.tenant_id = Some(tenant.to_owned());
    n.item_id = Some(tenant.to_owned());
    n.due_on = Some(delivered_on);
    n.open = false;
    n.done = Some((on, b));
    insert(conn, g, n).await
}

/// Stores one of an inspection's JSON columns (`deliveries`, `extensions`).
async fn save_json(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    column: &'static str,
    value: &impl Serialize,
) -> Result<(), ProjectionError> {
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET {column} = {} WHERE inspection_id = {}",
                g.table(INSPECTIONS),
                a.text(serde_json::to_string(value).unwrap_or_default()),
                a.text(id)
            )
        })
        .await
}

async fn tenant_park(
    conn: &mut AnyConnection,
    g: &Generation,
    tenant_id: &str,
) -> Result<Option<String>, ProjectionError> {
    let mut args = Args::default();
    let statement = format!(
        "SELECT park_id FROM {} WHERE tenant_id = {}",
        g.table(TENANTS),
        args.text(tenant_id)
    );
    let rows = args.fetch_all(conn, statement).await?;
    rows.first().map(|r| Ok(r.try_get(0)?)).transpose()
}

/// Records a new obligation and resolves its park's parties.
async fn insert(
    conn: &mut AnyConnection,
    g: &Generation,
    n: Opening<'_>,
) -> Result<(), ProjectionError> {
    let (done_on, late_limit, late_detail, done_position) = match &n.done {
        Some((on, b)) => (
            Some(day(*on)),
            Some(b.limit.clone()),
            Some(b.detail.clone()),
            Some(n.e.position_i64()),
        ),
        None => (None, None, None, None),
    };
    let facts = serde_json::to_string(&n.facts).map_err(|e| n.e.error(e))?;
    // The park's parties on the obligation's date, resolved before the row is written (as
    // `resolve_parties` resolves a stored row), so that a new row costs one statement.
    let (company_named, authority_named) =
        named_parties(n.kind, n.company_id.is_some(), n.authority_id.is_some());
    let mut company_id = n.company_id.clone();
    let mut authority_id = n.authority_id.clone();
    if let Some(park) = &n.park_id {
        if !company_named {
            company_id = REGISTRY
                .company_at(conn, g, park, n.on_date)
                .await?
                .map(|(c, _)| c);
        }
        if !authority_named {
            authority_id = REGISTRY
                .jurisdiction_at(conn, g, park, n.on_date)
                .await?
                .map(|(a, _)| a);
        }
    }
    let mut a = Args::default();
    let statement = format!(
        "INSERT INTO {} (obligation_id, kind, aggregate_type, aggregate_id, item_id, park_id, \
                 tenant_id, company_id, authority_id, on_date, due_on, done_on, open, late_limit, \
                 late_detail, facts, first_position, done_position) VALUES ({}, {}, {}, {}, {}, {}, {}, \
                 {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (obligation_id) DO NOTHING",
        g.table(OBLIGATIONS),
        a.text(n.id.clone()),
        a.text(n.kind.as_str()),
        a.text(n.e.stored.aggregate_type.clone()),
        a.text(n.e.aggregate_id()),
        a.opt_text(n.item_id.clone()),
        a.opt_text(n.park_id.clone()),
        a.opt_text(n.tenant_id.clone()),
        a.opt_text(company_id),
        a.opt_text(authority_id),
        a.text(day(n.on_date)),
        a.opt_text(n.due_on.map(day)),
        a.opt_text(done_on),
        a.int(i64::from(n.open)),
        a.opt_text(late_limit),
        a.opt_text(late_detail),
        a.text(facts),
        a.int(n.e.position_i64()),
        a.opt_int(done_position),
    );
    if a.execute_count(conn, statement).await? == 0 {
        // The obligation was already recorded: its stored row is judged as it stands.
        resolve_parties(conn, g, &n.id).await?;
    }
    Ok(())
}

/// Which parties an obligation names itself, from its kind and whether the act named a company
/// and an authority: tasks and dossiers name their own parties; the others take the park's.
fn named_parties(kind: Obligation, company: bool, authority: bool) -> (bool, bool) {
    (
        matches!(kind, Obligation::Task | Obligation::Quarterly)
            || (kind == Obligation::Report && company),
        matches!(
            kind,
            Obligation::Task | Obligation::Quarterly | Obligation::Dossier
        ) && authority,
    )
}

/// An obligation as stored.
struct Obligated {
    id: String,
    kind: Obligation,
    park_id: Option<String>,
    on_date: NaiveDate,
    due_on: Option<NaiveDate>,
    done_at: Option<String>,
    company_named: bool,
    authority_named: bool,
    /// The parties as stored.
    company_id: Option<String>,
    authority_id: Option<String>,
    facts: Facts,
}

async fn row(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
) -> Result<Option<Obligated>, ProjectionError> {
    let mut args = Args::default();
    let statement = format!(
        "SELECT obligation_id, kind, park_id, on_date, due_on, due_at, done_at, facts, \
         company_id, authority_id FROM {} WHERE obligation_id = {}",
        g.table(OBLIGATIONS),
        args.text(id)
    );
    let rows = args.fetch_all(conn, statement).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let kind = Obligation::parse(&r.try_get::<String, _>(1)?)?;
    let company: Option<String> = r.try_get(8)?;
    let authority: Option<String> = r.try_get(9)?;
    let (company_named, authority_named) =
        named_parties(kind, company.is_some(), authority.is_some());
    Ok(Some(Obligated {
        company_id: company,
        authority_id: authority,
        id: r.try_get(0)?,
        kind,
        park_id: r.try_get(2)?,
        on_date: parse_day(&r.try_get::<String, _>(3)?)?,
        due_on: opt_day(r.try_get(4)?)?,
        done_at: r.try_get(6)?,
        company_named,
        authority_named,
        facts: serde_json::from_str(&r.try_get::<String, _>(7)?).map_err(corrupt)?,
    }))
}

/// Resolves the park's authority and company on the obligation's date (keeping the parties the act
/// names itself).
async fn resolve_parties(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
) -> Result<(), ProjectionError> {
    let Some(o) = row(conn, g, id).await? else {
        return Ok(());
    };
    let Some(park) = &o.park_id else {
        return Ok(());
    };
    let mut sets = Vec::new();
    let mut args = Args::default();
    if !o.company_named {
        let company = REGISTRY
            .company_at(conn, g, park, o.on_date)
            .await?
            .map(|(c, _)| c);
        sets.push(format!("company_id = {}", args.opt_text(company)));
    }
    if !o.authority_named {
        let authority = REGISTRY
            .jurisdiction_at(conn, g, park, o.on_date)
            .await?
            .map(|(a, _)| a);
        sets.push(format!("authority_id = {}", args.opt_text(authority)));
    }
    if sets.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "UPDATE {} SET {} WHERE obligation_id = {}",
        g.table(OBLIGATIONS),
        sets.join(", "),
        args.text(id)
    );
    args.execute(conn, statement).await
}

/// Judges again the deadline an agreement sets (notifications, answers) and the parties.
async fn judge(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    id: &str,
) -> Result<(), ProjectionError> {
    resolve_parties(conn, g, id).await?;
    judge_resolved(conn, g, rules, id).await
}

/// [`judge`] for an obligation whose parties are resolved already (one [`insert`] just wrote).
async fn judge_resolved(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    id: &str,
) -> Result<(), ProjectionError> {
    let Some(o) = row(conn, g, id).await? else {
        return Ok(());
    };
    let (company, authority) = (o.company_id.clone(), o.authority_id.clone());
    match o.kind {
        Obligation::Notification => {
            let Some(detected_at) = o.facts.detected_at else {
                return Ok(());
            };
            let date = local_date(detected_at);
            let mut judged_by = None;
            if let (Some(a), Some(c)) = (&authority, &company)
                && let Some((agreement, inherited)) =
                    REGISTRY.agreement_in_force(conn, g, a, c, date).await?
                && let Some(levels) = REGISTRY
                    .levels_at(conn, g, &agreement.agreement_id, date)
                    .await?
            {
                judged_by = Some((
                    levels.incident_notification_hours,
                    agreement.agreement_id,
                    inherited,
                ));
            }
            // The same hours, code and wording as the command judged with; with neither an
            // agreement nor a Board policy the law sets no hour limit, and nothing is owed by a time.
            let (hours, source, agreement_id, code) = match judged_by {
                Some((hours, id, inherited)) => (
                    hours,
                    if inherited {
                        format!(
                            "coordination agreement {id}, inherited by the park's authority from an authority it succeeded"
                        )
                    } else {
                        format!("coordination agreement {id}")
                    },
                    Some(id),
                    None,
                ),
                None => match rules.policy_incident_notification_hours {
                    Some(hours) => (
                        hours,
                        "the Board's own policy, not a legal limit (no coordination agreement governed the park)"
                            .to_owned(),
                        None,
                        Some(kcn_domain::incident::POLICY_LATE),
                    ),
                    None => {
                        let due_set = (None, None, None);
                        return set_judged(conn, g, id, due_set, None, None).await;
                    }
                },
            };
            let deadline = limits::notification_deadline(detected_at, hours);
            let late_from =
                deadline.and_then(|d| d.checked_add_signed(chrono::Duration::microseconds(1)));
            let due_set = (deadline.map(local_date), late_from, agreement_id);
            let breach = match &o.done_at {
                Some(done) => limits::notification(
                    detected_at,
                    hours,
                    &source,
                    Some(parse_instant(done)?),
                    None,
                )
                .breach
                .map(|mut b| {
                    if let Some(code) = code {
                        code.clone_into(&mut b.limit);
                    }
                    b
                }),
                None => None,
            };
            let (l, d) = match breach {
                Some(b) => (Some(b.limit), Some(b.detail)),
                None => (None, None),
            };
            set_judged(conn, g, id, due_set, l, d).await?;
        }
        Obligation::Answer => {
            let mut agreement_id = None;
            let due = match o.facts.due_at {
                Some(due_at) => limits::answer_due_by_request(due_at),
                None => {
                    let company = o.facts.company_party.clone().or(company);
                    let authority = o.facts.authority_party.clone().or(authority);
                    match (authority, company) {
                        (Some(a), Some(c)) => {
                            match REGISTRY
                                .agreement_in_force(conn, g, &a, &c, o.on_date)
                                .await?
                            {
                                Some((agreement, _)) => {
                                    let levels = REGISTRY
                                        .levels_at(conn, g, &agreement.agreement_id, o.on_date)
                                        .await?;
                                    agreement_id = Some(agreement.agreement_id);
                                    levels.and_then(|l| {
                                        limits::answer_due_by_agreement(
                                            rules,
                                            o.on_date,
                                            l.information_answer_days,
                                        )
                                    })
                                }
                                None => None,
                            }
                        }
                        _ => None,
                    }
                }
            };
            // The register's deadline is the last on-time date; `due_at` the first late instant.
            let due_set = (
                due.map(|d| d.due_on),
                due.map(|d| d.late_from),
                agreement_id,
            );
            let (late_limit, late_detail) = match (&o.done_at, due) {
                (Some(done), Some(due)) => {
                    match limits::answered_late(due.late_from, parse_instant(done)?) {
                        Some(b) => (Some(b.limit), Some(b.detail)),
                        None => (None, None),
                    }
                }
                _ => (None, None),
            };
            set_judged(conn, g, id, due_set, late_limit, late_detail).await?;
        }
        Obligation::Quarterly => {
            let (Some(task), Some(year), Some(quarter)) =
                (o.facts.task_id.as_deref(), o.facts.year, o.facts.quarter)
            else {
                return Err(corrupt(format!(
                    "quarterly obligation {id} without its facts"
                )));
            };
            let day_of = match (&authority, &company) {
                (Some(a), Some(c)) => match REGISTRY
                    .agreement_in_force(conn, g, a, c, o.on_date)
                    .await?
                {
                    Some((agreement, _)) => REGISTRY
                        .levels_at(conn, g, &agreement.agreement_id, o.on_date)
                        .await?
                        .and_then(|l| l.quarterly_report_due_day)
                        .map(|day| (day, agreement.agreement_id)),
                    None => None,
                },
                _ => None,
            };
            let Some((due_day, agreement_id)) = day_of else {
                let due_set = (None, None, None);
                return set_judged(conn, g, id, due_set, None, None).await;
            };
            let due_on = limits::quarterly_report_due(year, quarter, due_day);
            let due_set = (due_on, None, Some(agreement_id));
            let late = match &o.done_at {
                Some(done) => limits::quarterly_report_late(
                    task,
                    year,
                    quarter,
                    due_day,
                    local_date(parse_instant(done)?),
                ),
                None => None,
            };
            let (l, d) = match late {
                Some(b) => (Some(b.limit), Some(b.detail)),
                None => (None, None),
            };
            set_judged(conn, g, id, due_set, l, d).await?;
        }
        Obligation::Consultation | Obligation::Infrastructure => {
            let days = match (&authority, &company) {
                (Some(a), Some(c)) => match REGISTRY
                    .agreement_in_force(conn, g, a, c, o.on_date)
                    .await?
                {
                    Some((agreement, _)) => REGISTRY
                        .levels_at(conn, g, &agreement.agreement_id, o.on_date)
                        .await?
                        .and_then(|l| {
                            if o.kind == Obligation::Consultation {
                                l.consultation_answer_days
                            } else {
                                l.infrastructure_information_days
                            }
                        })
                        .map(|days| (days, agreement.agreement_id)),
                    None => None,
                },
                _ => None,
            };
            let Some((days, agreement_id)) = days else {
                let due_set = (None, None, None);
                return set_judged(conn, g, id, due_set, None, None).await;
            };
            // The last on-time date: `days` after the opening, or after the date the
            // infrastructure information describes.
            let due_on = rules.days().add(o.on_date, days);
            let due_set = (due_on, None, Some(agreement_id));
            let late = if o.kind == Obligation::Consultation {
                match &o.done_at {
                    Some(done) => limits::consultation_determined_late(
                        rules,
                        o.on_date,
                        local_date(parse_instant(done)?),
                        days,
                    ),
                    None => None,
                }
            } else {
                o.facts.reported_on.and_then(|reported| {
                    limits::infrastructure_information_late(rules, o.on_date, reported, days)
                })
            };
            let (l, d) = match late {
                Some(b) => (Some(b.limit), Some(b.detail)),
                None => (None, None),
            };
            set_judged(conn, g, id, due_set, l, d).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The deadline an agreement sets (`due_on`, `due_at`, the agreement) and whether the obligation
/// was met late, written in one statement.
type DueSet = (Option<NaiveDate>, Option<DateTime<Utc>>, Option<String>);

async fn set_judged(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    (due_on, due_at, agreement_id): DueSet,
    late_limit: Option<String>,
    late_detail: Option<String>,
) -> Result<(), ProjectionError> {
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET due_on = {}, due_at = {}, agreement_id = {}, late_limit = {}, \
                 late_detail = {} WHERE obligation_id = {}",
                g.table(OBLIGATIONS),
                a.opt_text(due_on.map(day)),
                a.opt_text(due_at.map(instant)),
                a.opt_text(agreement_id),
                a.opt_text(late_limit),
                a.opt_text(late_detail),
                a.text(id)
            )
        })
        .await
}

async fn set_due(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    due_on: Option<NaiveDate>,
    due_at: Option<DateTime<Utc>>,
    agreement_id: Option<String>,
) -> Result<(), ProjectionError> {
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET due_on = {}, due_at = {}, agreement_id = {} WHERE obligation_id = {}",
                g.table(OBLIGATIONS),
                a.opt_text(due_on.map(day)),
                a.opt_text(due_at.map(instant)),
                a.opt_text(agreement_id),
                a.text(id)
            )
        })
        .await
}

/// Records the first fulfilment of an instant-counted obligation (a notification, an answer), and
/// whether it was late.
async fn fulfil_at(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    id: &str,
    e: &Envelope,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let Some(o) = row(conn, g, id).await? else {
        return Ok(());
    };
    if o.done_at.is_some() {
        // Only the first counts.
        return Ok(());
    }
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET done_at = {}, done_on = {}, done_position = {} WHERE obligation_id = {}",
                g.table(OBLIGATIONS),
                a.text(instant(at)),
                a.text(day(local_date(at))),
                a.int(e.position_i64()),
                a.text(id)
            )
        })
        .await?;
    // The lateness is judged where the deadline is: it depends on the agreement in force.
    judge(conn, g, rules, id).await
}

/// Records the fulfilment of a date-counted obligation with its breach, if it was late.
async fn fulfil_on(
    conn: &mut AnyConnection,
    g: &Generation,
    id: &str,
    e: &Envelope,
    on: NaiveDate,
    breach: Option<Breach>,
) -> Result<(), ProjectionError> {
    let (l, d) = match breach {
        Some(b) => (Some(b.limit), Some(b.detail)),
        None => (None, None),
    };
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET done_on = {}, done_position = {}, late_limit = {}, late_detail = {} \
                 WHERE obligation_id = {} AND done_on IS NULL",
                g.table(OBLIGATIONS),
                a.text(day(on)),
                a.int(e.position_i64()),
                a.opt_text(l),
                a.opt_text(d),
                a.text(id)
            )
        })
        .await
}

/// Ends an obligation that can no longer be fulfilled (a withdrawn request, a closed inspection).
async fn close(conn: &mut AnyConnection, g: &Generation, id: &str) -> Result<(), ProjectionError> {
    Args::default()
        .execute_with(conn, |a| {
            format!(
                "UPDATE {} SET open = 0 WHERE obligation_id = {}",
                g.table(OBLIGATIONS),
                a.text(id)
            )
        })
        .await
}

/// Judges again the obligations a registry change can affect.
async fn rejudge(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    change: &Change,
) -> Result<(), ProjectionError> {
    let mut args = Args::default();
    let statement = match change {
        Change::Park { park_id, from } => format!(
            "SELECT obligation_id FROM {} WHERE park_id = {} AND on_date >= {}",
            g.table(OBLIGATIONS),
            args.text(park_id.as_str()),
            args.text(day(*from))
        ),
        Change::Everywhere { from } => format!(
            "SELECT obligation_id FROM {} WHERE kind IN ('notification', 'answer', 'consultation', \
             'infrastructure', 'quarterly') AND on_date >= {}",
            g.table(OBLIGATIONS),
            args.text(day(*from))
        ),
    };
    let rows = args.fetch_all(conn, statement).await?;
    for r in rows {
        let id: String = r.try_get(0)?;
        judge(conn, g, rules, &id).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// Whether a breach is done (fulfilled late, or in one act) or still owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreachStatus {
    /// Fulfilled after its deadline, or breached in one act.
    Late,
    /// Not fulfilled by the register's `as_of`, past its deadline.
    Overdue,
}

/// What the register is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachQuery {
    /// The period: deadlines from `from` to `to`, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// What was fulfilled, and what is still owed, by this instant.
    pub as_of: DateTime<Utc>,
    pub park_id: Option<String>,
    pub company_id: Option<String>,
    pub authority_id: Option<String>,
    /// Only these breach codes; empty means every code.
    pub limits: Vec<String>,
    /// Continue after this (deadline, obligation id).
    pub after: Option<(NaiveDate, String)>,
    pub limit: u32,
}

/// One breach of the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachRecord {
    pub obligation_id: String,
    pub breach: Breach,
    pub status: BreachStatus,
    /// Its deadline: the last local date on which the act was on time.
    pub due_on: NaiveDate,
    /// The first instant the act is late from, for limits counted in hours or by a due time.
    pub late_from: Option<DateTime<Utc>>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The finding, task, extension or report year within the aggregate.
    pub item_id: Option<String>,
    pub park_id: Option<String>,
    pub tenant_id: Option<String>,
    pub company_id: Option<String>,
    pub authority_id: Option<String>,
    /// The agreement whose service level set the deadline, when one did.
    pub agreement_id: Option<String>,
    /// The positions of the events that opened and fulfilled the obligation.
    pub positions: Vec<u64>,
}

/// The overdue codes of each obligation kind (what is still owed past its deadline).
const OVERDUE: &[(&str, &str)] = &[
    ("notification", "incident_notification_overdue"),
    ("answer", "information_answer_overdue"),
    ("consultation", "consultation_determination_overdue"),
    ("delivery", "inspection_decision_delivery_overdue"),
    ("duration", "inspection_overrunning"),
    ("remediation", "remediation_overdue"),
    ("task", "task_overdue"),
    ("quarterly", "quarterly_report_overdue"),
    ("dossier", "dossier_overdue"),
];

/// Every code the register can hold, for validating a caller's filter.
pub const CODES: &[&str] = &[
    "incident_notification_late",
    "incident_notification_late_board_policy",
    "incident_notification_overdue",
    "information_answered_late",
    "information_answer_overdue",
    "inspection_decision_delivered_late",
    "inspection_decision_delivery_overdue",
    "inspection_too_long",
    "inspection_overrunning",
    "inspection_extension_too_long",
    "inspection_started_before_delivery",
    "consultation_determined_late",
    "consultation_determination_overdue",
    "infrastructure_information_late",
    "second_extension",
    "remediation_verified_late",
    "remediation_overdue",
    "task_completed_late",
    "task_overdue",
    "quarterly_report_late",
    "quarterly_report_overdue",
    "dossier_decided_late",
    "dossier_overdue",
    "tenant_annual_report_late",
    "park_annual_report_late",
];

impl Queries<'_, BreachesModel> {
    /// A page of the register: the breaches whose deadline lies in the period, late or still owed as
    /// of `q.as_of`, in deadline order, once the model has applied `min_position`.
    pub async fn register(
        &self,
        min_position: u64,
        rules: &LegalRules,
        q: &BreachQuery,
    ) -> Result<Vec<BreachRecord>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        register(&mut r.conn, &r.generation, rules, q).await
    }
}

async fn register(
    conn: &mut AnyConnection,
    g: &Generation,
    rules: &LegalRules,
    q: &BreachQuery,
) -> Result<Vec<BreachRecord>, ProjectionError> {
    let mut args = Args::default();
    let as_of_at = args.text(instant(q.as_of));
    let as_of_on = args.text(day(local_date(q.as_of)));
    let mut clauses = vec![
        format!("due_on >= {}", args.text(day(q.from))),
        format!("due_on <= {}", args.text(day(q.to))),
    ];
    // Late: fulfilled (or breached) late by as_of. Overdue: open, not fulfilled by as_of, and as_of
    // past the deadline (the instant where there is one, the date otherwise).
    let late = format!(
        "(late_limit IS NOT NULL AND done_on <= {as_of_on} AND (done_at IS NULL OR done_at <= {as_of_at}))"
    );
    let overdue_kinds: Vec<&str> = OVERDUE
        .iter()
        .filter(|(_, code)| q.limits.is_empty() || q.limits.iter().any(|l| l == code))
        .map(|(kind, _)| *kind)
        .collect();
    let late_codes: Vec<String> = q.limits.iter().map(|l| args.text(l.as_str())).collect();
    let late = if q.limits.is_empty() {
        late
    } else {
        format!("({late} AND late_limit IN ({}))", late_codes.join(", "))
    };
    let overdue = if overdue_kinds.is_empty() {
        "1 = 0".to_owned()
    } else {
        let kinds: Vec<String> = overdue_kinds.iter().map(|k| args.text(*k)).collect();
        format!(
            "(open = 1 AND kind IN ({}) AND (done_on IS NULL OR done_on > {as_of_on} \
             OR (done_at IS NOT NULL AND done_at > {as_of_at})) AND \
             ((due_at IS NOT NULL AND due_at <= {as_of_at}) OR (due_at IS NULL AND due_on < {as_of_on})))",
            kinds.join(", ")
        )
    };
    clauses.push(format!("({late} OR {overdue})"));
    for (column, value) in [
        ("park_id", &q.park_id),
        ("company_id", &q.company_id),
        ("authority_id", &q.authority_id),
    ] {
        if let Some(v) = value {
            clauses.push(format!("{column} = {}", args.text(v.as_str())));
        }
    }
    if let Some((due, id)) = &q.after {
        let d = args.text(day(*due));
        let i = args.text(id.as_str());
        clauses.push(format!(
            "(due_on > {d} OR (due_on = {d} AND obligation_id > {i}))"
        ));
    }
    let statement = format!(
        "SELECT obligation_id, kind, aggregate_type, aggregate_id, item_id, park_id, tenant_id, \
         company_id, authority_id, due_on, due_at, done_on, done_at, late_limit, late_detail, \
         facts, first_position, done_position, agreement_id, on_date FROM {} WHERE {} \
         ORDER BY due_on, obligation_id LIMIT {}",
        g.table(OBLIGATIONS),
        clauses.join(" AND "),
        args.int(limit(q.limit))
    );
    let rows = args.fetch_all(conn, statement).await?;
    rows.iter().map(|r| record(r, rules, q.as_of)).collect()
}

fn record(
    r: &AnyRow,
    rules: &LegalRules,
    as_of: DateTime<Utc>,
) -> Result<BreachRecord, ProjectionError> {
    let kind = Obligation::parse(&r.try_get::<String, _>(1)?)?;
    let due_on = parse_day(&r.try_get::<String, _>(9)?)?;
    let due_at: Option<String> = r.try_get(10)?;
    let done_on = opt_day(r.try_get(11)?)?;
    let done_at: Option<String> = r.try_get(12)?;
    let late_limit: Option<String> = r.try_get(13)?;
    let late_detail: Option<String> = r.try_get(14)?;
    let facts: Facts = serde_json::from_str(&r.try_get::<String, _>(15)?).map_err(corrupt)?;
    let item_id: Option<String> = r.try_get(4)?;
    let as_of_on = local_date(as_of);
    let due_instant = due_at.as_deref().map(parse_instant).transpose()?;
    let done_by_then = done_on.is_some_and(|d| d <= as_of_on)
        && done_at
            .as_deref()
            .is_none_or(|at| at <= instant(as_of).as_str());
    let (breach, status) = match (late_limit, late_detail) {
        (Some(limit), Some(detail)) if done_by_then => {
            (Breach { limit, detail }, BreachStatus::Late)
        }
        _ => {
            let item = item_id.as_deref().unwrap_or("");
            let owed = match kind {
                Obligation::Notification => match (facts.detected_at, due_instant) {
                    (Some(detected), Some(late_from)) => late_from
                        .checked_sub_signed(chrono::Duration::microseconds(1))
                        .and_then(|deadline| {
                            limits::notification_overdue(detected, deadline, as_of)
                        }),
                    _ => None,
                },
                Obligation::Answer => due_instant.and_then(|d| limits::answer_overdue(d, as_of)),
                Obligation::Delivery => facts.issued_on.and_then(|issued| {
                    limits::decision_delivery(rules, false, issued, None, Some(as_of_on)).breach
                }),
                Obligation::Duration => facts.started_on.and_then(|started| {
                    let limit_days =
                        u32::try_from((due_on - started).num_days() + 1).unwrap_or(u32::MAX);
                    let bounds = limits::InspectionLimits {
                        base_days: limit_days,
                        extension_cap: 0,
                    };
                    limits::inspection_duration(rules, bounds, 0, started, None, Some(as_of_on))
                        .breach
                }),
                Obligation::Remediation => limits::remediation_overdue(item, due_on, as_of_on),
                Obligation::Task => limits::task_overdue(item, due_on, as_of_on),
                Obligation::Quarterly => {
                    match (facts.task_id.as_deref(), facts.year, facts.quarter) {
                        (Some(task), Some(year), Some(quarter)) => {
                            limits::quarterly_report_overdue(task, year, quarter, due_on, as_of_on)
                        }
                        _ => None,
                    }
                }
                Obligation::Dossier => match (
                    facts.procedure_code.as_deref(),
                    facts.promised_days,
                    facts.received_on,
                ) {
                    (Some(code), Some(promised), Some(received)) => {
                        limits::dossier_overdue(rules, code, promised, received, as_of_on)
                    }
                    _ => None,
                },
                Obligation::Consultation => {
                    let opened_on = opt_day(r.try_get(19)?)?;
                    opened_on.and_then(|o| limits::consultation_overdue(o, due_on, as_of_on))
                }
                Obligation::Extension
                | Obligation::Start
                | Obligation::Report
                | Obligation::Infrastructure => None,
            };
            let breach = owed.ok_or_else(|| {
                corrupt(format!(
                    "obligation {} is no breach",
                    r.try_get::<String, _>(0).unwrap_or_default()
                ))
            })?;
            (breach, BreachStatus::Overdue)
        }
    };
    let mut positions = vec![u64::try_from(r.try_get::<i64, _>(16)?).unwrap_or_default()];
    if status == BreachStatus::Late
        && let Some(p) = r.try_get::<Option<i64>, _>(17)?
    {
        let p = u64::try_from(p).unwrap_or_default();
        if !positions.contains(&p) {
            positions.push(p);
        }
    }
    Ok(BreachRecord {
        obligation_id: r.try_get(0)?,
        breach,
        status,
        due_on,
        late_from: due_instant,
        aggregate_type: r.try_get(2)?,
        aggregate_id: r.try_get(3)?,
        item_id,
        park_id: r.try_get(5)?,
        tenant_id: r.try_get(6)?,
        company_id: r.try_get(7)?,
        authority_id: r.try_get(8)?,
        agreement_id: r.try_get(18)?,
        positions,
    })
}

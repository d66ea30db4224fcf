//! The Park aggregate: an industrial park, with its effective-dated jurisdiction (which authority
//! oversees it) and infrastructure company (who runs it).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::act_date;
use crate::consultation::PollutionLevel;
use crate::deps::{Breach, LegalRules};
use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::limits;
use crate::time::local_date;
use crate::values::{Decimal, ParkCode, Sha256Hex, Text, VsicCode};
use crate::{Deps, DomainError, events};

/// `ParkRegistered`: a park is known to the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkRegistered {
    pub code: ParkCode,
    pub name: Text,
    /// Planned area in hectares, as an exact decimal.
    pub area_ha: Decimal,
    /// Where it is, in words (town or ward, district, province as named at registration).
    pub location: Text,
}
impl EventPayload for ParkRegistered {}

/// `JurisdictionAssigned`: from `effective_from` on, `authority_id` oversees the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JurisdictionAssigned {
    pub authority_id: Uuid,
    pub effective_from: NaiveDate,
}
impl EventPayload for JurisdictionAssigned {}

/// `InfrastructureCompanyAssigned`: from `effective_from` on, `company_id` runs the park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfrastructureCompanyAssigned {
    pub company_id: Uuid,
    pub effective_from: NaiveDate,
}
impl EventPayload for InfrastructureCompanyAssigned {}

/// `ParkIndustryRulesSet`: from `effective_from` on, which industries the park takes in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkIndustryRulesSet {
    /// Industries the park's planning admits; a code admits every code below it in the classification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_vsic_codes: Vec<VsicCode>,
    /// Industries the park's planning or environmental rules exclude.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_vsic_codes: Vec<VsicCode>,
    /// The most polluting level (Annex II of Decree 08/2022) the park admits.
    pub highest_pollution_level: PollutionLevel,
    pub effective_from: NaiveDate,
    /// The planning decision or approval the rules come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<Text>,
}
impl EventPayload for ParkIndustryRulesSet {}

/// `ParkAnnualEnvironmentalReportSubmitted`: the infrastructure company's report on the park for the
/// year 1 January to 31 December of `year`, due by the configured day of January after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkAnnualEnvironmentalReportSubmitted {
    pub year: u32,
    pub company_id: Uuid,
    /// The local date of submission; always the local date of the event's `occurred_at`.
    pub submitted_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<Sha256Hex>,
}
impl EventPayload for ParkAnnualEnvironmentalReportSubmitted {}

/// `EnvironmentalInfrastructureReported`: the company reports the park's environmental
/// infrastructure as it stood on `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentalInfrastructureReported {
    pub company_id: Uuid,
    /// Design capacity of the central wastewater treatment plant, in m³ per day.
    pub wastewater_capacity_m3_per_day: u32,
    /// Average volume actually treated, in m³ per day, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wastewater_load_m3_per_day: Option<u32>,
    /// Whether the plant's automatic monitoring transmits to the environmental authority.
    pub monitoring_connected: bool,
    pub as_of: NaiveDate,
}
impl EventPayload for EnvironmentalInfrastructureReported {}

/// `OccupancyReported`: the share of the park's industrial land leased, as of a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OccupancyReported {
    pub company_id: Uuid,
    /// Percent, as an exact decimal string such as "93.77".
    pub rate_percent: Decimal,
    pub as_of: NaiveDate,
}
impl EventPayload for OccupancyReported {}

/// `EcoParkEvidenceRecorded`: evidence against one criterion of the eco-industrial park criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcoParkEvidenceRecorded {
    /// The criterion, by its reference in the criteria (`Decree 35/2022, Art. 39(2)(a)`).
    pub criterion: Text,
    /// What was measured or shown, in words or figures.
    pub value: Text,
    pub document_sha256: Sha256Hex,
}
impl EventPayload for EcoParkEvidenceRecorded {}

/// `EcoParkCertified`: the park is certified an eco-industrial park until `valid_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcoParkCertified {
    pub certificate_no: Text,
    pub valid_to: NaiveDate,
}
impl EventPayload for EcoParkCertified {}

/// `EcoParkCertificationRevoked`: the current certificate is withdrawn before it runs out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcoParkCertificationRevoked {
    pub certificate_no: Text,
    pub reason: Text,
}
impl EventPayload for EcoParkCertificationRevoked {}

events!(
    /// Events of a park.
    ParkEvent {
        ParkRegistered,
        JurisdictionAssigned,
        InfrastructureCompanyAssigned,
        ParkIndustryRulesSet,
        ParkAnnualEnvironmentalReportSubmitted,
        EnvironmentalInfrastructureReported,
        OccupancyReported,
        EcoParkEvidenceRecorded,
        EcoParkCertified,
        EcoParkCertificationRevoked,
    }
);

/// Commands on a park.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParkCommand {
    Register {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ParkRegistered,
    },
    AssignJurisdiction {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: JurisdictionAssigned,
    },
    AssignCompany {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: InfrastructureCompanyAssigned,
    },
    SetIndustryRules {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: ParkIndustryRulesSet,
    },
    SubmitAnnualReport {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        year: u32,
        company_id: Uuid,
        /// When given, it must be the local date of `occurred_at`.
        submitted_on: Option<NaiveDate>,
        document_sha256: Option<Sha256Hex>,
    },
    ReportInfrastructure {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EnvironmentalInfrastructureReported,
    },
    ReportOccupancy {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: OccupancyReported,
    },
    RecordEcoParkEvidence {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EcoParkEvidenceRecorded,
    },
    CertifyEcoPark {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EcoParkCertified,
    },
    RevokeEcoParkCertification {
        park_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: EcoParkCertificationRevoked,
    },
}

/// A park's current state, with the full timelines of its jurisdiction and company.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Park {
    pub registered: Option<ParkRegistered>,
    /// `(effective_from, authority_id)`, in increasing date order.
    pub jurisdictions: Vec<(NaiveDate, Uuid)>,
    /// `(effective_from, company_id)`, in increasing date order.
    pub companies: Vec<(NaiveDate, Uuid)>,
    /// The industry rules, in increasing `effective_from` order.
    pub industry_rules: Vec<ParkIndustryRulesSet>,
    pub annual_reports: Vec<ParkAnnualEnvironmentalReportSubmitted>,
    /// The infrastructure report of the latest `as_of` date.
    pub infrastructure: Option<EnvironmentalInfrastructureReported>,
    /// The occupancy report of the latest `as_of` date.
    pub occupancy: Option<OccupancyReported>,
    pub eco_evidence: Vec<EcoParkEvidenceRecorded>,
    /// The certificate in force, unless revoked (it may have run out: see `valid_to`).
    pub eco_certificate: Option<EcoParkCertified>,
    /// When the certificate in force was certified.
    #[serde(default)]
    pub eco_certified_at: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// The entry of an effective-dated timeline in force on `date`.
fn in_force(timeline: &[(NaiveDate, Uuid)], date: NaiveDate) -> Option<Uuid> {
    timeline
        .iter()
        .take_while(|(from, _)| *from <= date)
        .last()
        .map(|(_, id)| *id)
}

/// Refuses a second entry of an effective-dated timeline on a date that already has one (which of
/// the two would hold that day?), and one that changes nothing: the entry in force the day before
/// already names the same party. Any other date is a true fact, recorded wherever it falls,
/// before the latest entry too (a back-dated correction, an old assignment entered late): the
/// timeline is read by date, never by the order of the log, and the read models judge again what
/// the change affects.
fn fits(
    timeline: &[(NaiveDate, Uuid)],
    effective_from: NaiveDate,
    party: Uuid,
    rules: (&'static str, &'static str),
    what: &str,
) -> Result<(), DomainError> {
    if timeline.iter().any(|(from, _)| *from == effective_from) {
        return Err(DomainError::rule(
            rules.0,
            format!("a {what} is already recorded effective from {effective_from}"),
        ));
    }
    let before = effective_from
        .pred_opt()
        .and_then(|day| in_force(timeline, day));
    if before == Some(party) {
        return Err(DomainError::rule(
            rules.1,
            format!("{party} already holds the park's {what} on {effective_from}"),
        ));
    }
    Ok(())
}

/// Inserts an entry into an effective-dated timeline, keeping it in date order.
fn insert_dated<T>(timeline: &mut Vec<T>, entry: T, date: impl Fn(&T) -> NaiveDate) {
    let at = timeline.partition_point(|e| date(e) <= date(&entry));
    timeline.insert(at, entry);
}

impl Park {
    /// The authority with jurisdiction over the park on a local date.
    pub fn jurisdiction_at(&self, date: NaiveDate) -> Option<Uuid> {
        in_force(&self.jurisdictions, date)
    }

    /// The infrastructure company running the park on a local date.
    pub fn company_at(&self, date: NaiveDate) -> Option<Uuid> {
        in_force(&self.companies, date)
    }

    /// The industry rules in force on a local date.
    pub fn industry_rules_at(&self, date: NaiveDate) -> Option<&ParkIndustryRulesSet> {
        self.industry_rules
            .iter()
            .take_while(|r| r.effective_from <= date)
            .last()
    }

    /// Refuses a report by a company that does not run the park on the report's local date.
    fn require_company(&self, company_id: Uuid, date: NaiveDate) -> Result<(), DomainError> {
        if self.company_at(date) == Some(company_id) {
            Ok(())
        } else {
            Err(DomainError::rule(
                "company_not_running_park",
                format!("company {company_id} does not run this park on {date}"),
            ))
        }
    }

    /// Refuses an `as_of` date after the local date of the report.
    fn as_of_not_after(as_of: NaiveDate, occurred_at: DateTime<Utc>) -> Result<(), DomainError> {
        let local = local_date(occurred_at);
        if as_of > local {
            return Err(DomainError::invalid(
                "as_of",
                format!("must not be after the report's local date ({local})"),
            ));
        }
        Ok(())
    }

    /// Refuses a step on a park never registered. A park's reports, evidence and assignments are
    /// facts of their own, recorded whatever their order (the effective-dated timelines keep their
    /// own order); only a revocation before its certificate's certification is refused.
    fn require(&self, park_id: Uuid) -> Result<(), DomainError> {
        if self.registered.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::Park,
                id: park_id,
            });
        }
        Ok(())
    }
}

impl Aggregate for Park {
    const TYPE: &'static str = "Park";
    type Command = ParkCommand;
    type Event = Timed<ParkEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: ParkCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            ParkCommand::Register {
                park_id,
                occurred_at,
                event,
            } => {
                if self.registered.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::Park,
                        id: park_id,
                    });
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::AssignJurisdiction {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                // An authority takes on no new duties on or after the date it was succeeded.
                deps.require_in_office(
                    "authority_id",
                    event.authority_id,
                    event.effective_from,
                    "jurisdiction over a park",
                )
                .await?;
                fits(
                    &self.jurisdictions,
                    event.effective_from,
                    event.authority_id,
                    ("jurisdiction_already_assigned_on", "jurisdiction_unchanged"),
                    "jurisdiction",
                )?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::AssignCompany {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                deps.require(
                    "company_id",
                    AggregateKind::InfrastructureCompany,
                    event.company_id,
                )
                .await?;
                fits(
                    &self.companies,
                    event.effective_from,
                    event.company_id,
                    ("company_already_assigned_on", "company_unchanged"),
                    "company assignment",
                )?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::SetIndustryRules {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                if let Some(both) = event
                    .excluded_vsic_codes
                    .iter()
                    .find(|c| event.allowed_vsic_codes.contains(c))
                {
                    return Err(DomainError::invalid(
                        "excluded_vsic_codes",
                        format!("{} is both allowed and excluded", both.code),
                    ));
                }
                if self
                    .industry_rules
                    .iter()
                    .any(|r| r.effective_from == event.effective_from)
                {
                    return Err(DomainError::rule(
                        "industry_rules_already_set_on",
                        format!(
                            "industry rules are already recorded effective from {}",
                            event.effective_from
                        ),
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::SubmitAnnualReport {
                park_id,
                occurred_at,
                year,
                company_id,
                submitted_on,
                document_sha256,
            } => {
                self.require(park_id)?;
                let local = act_date("submitted_on", submitted_on, occurred_at)?;
                if i64::from(local.year()) <= i64::from(year) {
                    return Err(DomainError::rule(
                        "report_period_not_over",
                        format!(
                            "the report for {year} covers until 31 December {year}; it cannot be submitted on {local}"
                        ),
                    ));
                }
                self.require_company(company_id, local)?;
                if self.annual_reports.iter().any(|r| r.year == year) {
                    return Err(DomainError::rule(
                        "park_annual_report_already_submitted",
                        format!("the park's annual report for {year} is already submitted"),
                    ));
                }
                let event = ParkAnnualEnvironmentalReportSubmitted {
                    year,
                    company_id,
                    submitted_on: local,
                    document_sha256,
                };
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::ReportInfrastructure {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                Self::as_of_not_after(event.as_of, occurred_at)?;
                self.require_company(event.company_id, local_date(occurred_at))?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::ReportOccupancy {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                Self::as_of_not_after(event.as_of, occurred_at)?;
                if !percent_at_most_100(&event.rate_percent) {
                    return Err(DomainError::invalid("rate_percent", "must be at most 100"));
                }
                self.require_company(event.company_id, local_date(occurred_at))?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::RecordEcoParkEvidence {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::CertifyEcoPark {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                let local = local_date(occurred_at);
                if event.valid_to <= local {
                    return Err(DomainError::invalid(
                        "valid_to",
                        format!("must be after the certification's local date ({local})"),
                    ));
                }
                if self.eco_evidence.is_empty() {
                    return Err(DomainError::rule(
                        "eco_park_evidence_missing",
                        "a park is certified on recorded evidence; none is recorded",
                    ));
                }
                if let Some(current) = &self.eco_certificate
                    && current.valid_to >= local
                {
                    return Err(DomainError::rule(
                        "eco_park_already_certified",
                        format!(
                            "certificate {} is in force until {}",
                            current.certificate_no, current.valid_to
                        ),
                    ));
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
            ParkCommand::RevokeEcoParkCertification {
                park_id,
                occurred_at,
                event,
            } => {
                self.require(park_id)?;
                match &self.eco_certificate {
                    Some(current) if current.valid_to >= local_date(occurred_at) => {
                        not_before_its(
                            self.eco_certified_at,
                            occurred_at,
                            "the revocation",
                            "the certification",
                        )?;
                        if current.certificate_no != event.certificate_no {
                            return Err(DomainError::rule(
                                "eco_park_certificate_mismatch",
                                format!(
                                    "the certificate in force is {}, not {}",
                                    current.certificate_no, event.certificate_no
                                ),
                            ));
                        }
                    }
                    _ => {
                        return Err(DomainError::rule(
                            "eco_park_not_certified",
                            "the park holds no eco-industrial park certificate in force",
                        ));
                    }
                }
                sink.write(Timed::new(occurred_at, event), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Timed<ParkEvent>) {
        let at = event.occurred_at;
        self.latest = self.latest.max(Some(at));
        match event.body {
            ParkEvent::ParkRegistered(e) => self.registered = Some(e),
            ParkEvent::JurisdictionAssigned(e) => insert_dated(
                &mut self.jurisdictions,
                (e.effective_from, e.authority_id),
                |(from, _)| *from,
            ),
            ParkEvent::InfrastructureCompanyAssigned(e) => insert_dated(
                &mut self.companies,
                (e.effective_from, e.company_id),
                |(from, _)| *from,
            ),
            ParkEvent::ParkIndustryRulesSet(e) => {
                insert_dated(&mut self.industry_rules, e, |r| r.effective_from)
            }
            ParkEvent::ParkAnnualEnvironmentalReportSubmitted(e) => self.annual_reports.push(e),
            ParkEvent::EnvironmentalInfrastructureReported(e) => {
                // A report recorded late does not replace one of a later date.
                if self
                    .infrastructure
                    .as_ref()
                    .is_none_or(|i| e.as_of >= i.as_of)
                {
                    self.infrastructure = Some(e)
                }
            }
            ParkEvent::OccupancyReported(e) => {
                if self.occupancy.as_ref().is_none_or(|o| e.as_of >= o.as_of) {
                    self.occupancy = Some(e)
                }
            }
            ParkEvent::EcoParkEvidenceRecorded(e) => self.eco_evidence.push(e),
            ParkEvent::EcoParkCertified(e) => {
                self.eco_certificate = Some(e);
                self.eco_certified_at = Some(at);
            }
            ParkEvent::EcoParkCertificationRevoked(_) => {
                self.eco_certificate = None;
                self.eco_certified_at = None;
            }
        }
    }
}

/// Whether a decimal percentage is at most 100.
fn percent_at_most_100(rate: &Decimal) -> bool {
    let (int, frac) = rate.as_str().split_once('.').unwrap_or((rate.as_str(), ""));
    let int = int.trim_start_matches('0');
    int.len() <= 2 || (int == "100" && frac.bytes().all(|b| b == b'0'))
}

impl LedgerAggregate for Park {
    type Body = ParkEvent;
    const KIND: AggregateKind = AggregateKind::Park;

    fn park_id(&self, id: Uuid) -> Option<Uuid> {
        Some(id)
    }

    fn judged_against_agreements(new: &[Timed<ParkEvent>]) -> bool {
        new.iter()
            .any(|e| matches!(e.body, ParkEvent::EnvironmentalInfrastructureReported(_)))
    }

    /// Infrastructure information delivered after the `infrastructure_information_days` of the
    /// agreement governing the park on the date it describes (none is judged without one).
    fn judge_against_agreements(
        &self,
        new: &[Timed<ParkEvent>],
        rules: &LegalRules,
        agreements: &crate::agreement::AgreementsInForce,
    ) -> Vec<Breach> {
        new.iter()
            .filter_map(|e| match &e.body {
                ParkEvent::EnvironmentalInfrastructureReported(r) => agreements
                    .levels_at(r.as_of)
                    .and_then(|(_, levels)| levels.infrastructure_information_days)
                    .and_then(|days| {
                        limits::infrastructure_information_late(
                            rules,
                            r.as_of,
                            local_date(e.occurred_at),
                            days,
                        )
                    }),
                _ => None,
            })
            .collect()
    }

    /// A registration claims the key of the event it carries.
    fn expected_claims(command: &ParkCommand) -> Vec<crate::UniqueKey> {
        match command {
            ParkCommand::Register {
                occurred_at, event, ..
            } => Self::unique_keys(
                Uuid::nil(),
                &[Timed::new(
                    *occurred_at,
                    ParkEvent::ParkRegistered(event.clone()),
                )],
            ),
            _ => Vec::new(),
        }
    }

    /// A park's code is unique in the province.
    fn unique_keys(_id: Uuid, new: &[Timed<ParkEvent>]) -> Vec<crate::UniqueKey> {
        new.iter()
            .filter_map(|e| match &e.body {
                ParkEvent::ParkRegistered(r) => Some(crate::UniqueKey {
                    scope: "park_code",
                    key: r.code.as_str().to_owned(),
                    field: "code",
                }),
                _ => None,
            })
            .collect()
    }

    /// The infrastructure company's annual report is due by the configured day of January after the
    /// year it covers (verified: 20); a later one is recorded and named.
    fn judge(&self, new: &[Timed<ParkEvent>], rules: &LegalRules) -> Vec<Breach> {
        new.iter()
            .filter_map(|e| match &e.body {
                ParkEvent::ParkAnnualEnvironmentalReportSubmitted(r) => limits::annual_report_late(
                    limits::ReportFiler::Park,
                    rules,
                    r.year,
                    r.submitted_on,
                ),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, deps_with_successions, id, no_deps};

    const PARK: u64 = 10;
    const BOARD: u64 = 1;
    const CITY_BOARD: u64 = 3;
    const COMPANY: u64 = 2;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn registered() -> Timed<ParkEvent> {
        Timed::new(
            at("2025-04-11T03:00:00Z"),
            ParkRegistered {
                code: ParkCode::parse("DONGAN-1").unwrap(),
                name: Text::name("KCN Đồng An").unwrap(),
                area_ha: Decimal::parse("138.7", 4).unwrap(),
                location: Text::name("Thuận An, Bình Dương").unwrap(),
            },
        )
    }

    fn jurisdiction(authority: u64, from: &str) -> JurisdictionAssigned {
        JurisdictionAssigned {
            authority_id: id(authority),
            effective_from: date(from),
        }
    }

    fn assign(authority: u64, from: &str, when: &str) -> ParkCommand {
        ParkCommand::AssignJurisdiction {
            park_id: id(PARK),
            occurred_at: at(when),
            event: jurisdiction(authority, from),
        }
    }

    fn authorities() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::Authority, id(CITY_BOARD)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
        ])
    }

    #[test]
    fn a_jurisdiction_is_assigned_to_an_existing_authority() {
        TestFramework::<Park>::with(authorities())
            .given(vec![registered()])
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-04-11T04:00:00Z"),
                jurisdiction(BOARD, "2006-01-01"),
            )]);
    }

    #[test]
    fn a_jurisdiction_naming_an_unknown_authority_is_refused() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![registered()])
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "authority_id",
                ..
            })
        ));
    }

    #[test]
    fn a_jurisdiction_before_the_latest_one_is_recorded_in_date_order_but_not_twice_on_one_date() {
        let given = || {
            vec![
                registered(),
                Timed::new(
                    at("2025-04-11T04:00:00Z"),
                    jurisdiction(CITY_BOARD, "2025-07-28"),
                ),
            ]
        };
        // The Board's jurisdiction from 2006, entered after the city's of 2025: a true fact.
        TestFramework::<Park>::with(authorities())
            .given(given())
            .when(assign(BOARD, "2006-01-01", "2025-08-01T04:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-08-01T04:00:00Z"),
                jurisdiction(BOARD, "2006-01-01"),
            )]);
        let mut park = Park::default();
        for e in given() {
            park.apply(e);
        }
        park.apply(Timed::new(
            at("2025-08-01T04:00:00Z"),
            jurisdiction(BOARD, "2006-01-01"),
        ));
        assert_eq!(park.jurisdiction_at(date("2005-12-31")), None);
        assert_eq!(park.jurisdiction_at(date("2025-07-27")), Some(id(BOARD)));
        assert_eq!(
            park.jurisdiction_at(date("2025-07-28")),
            Some(id(CITY_BOARD))
        );
        // A second jurisdiction on the same date.
        let twice = TestFramework::<Park>::with(authorities())
            .given(given())
            .when(assign(BOARD, "2025-07-28", "2025-08-01T04:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(twice), "jurisdiction_already_assigned_on");
        // The authority already in force the day before.
        let mut both = given();
        both.push(Timed::new(
            at("2025-08-01T04:00:00Z"),
            jurisdiction(BOARD, "2006-01-01"),
        ));
        let unchanged = TestFramework::<Park>::with(authorities())
            .given(both)
            .when(assign(BOARD, "2010-01-01", "2025-08-02T04:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(unchanged), "jurisdiction_unchanged");
    }

    #[test]
    fn a_park_answers_who_had_jurisdiction_on_a_date() {
        let mut park = Park::default();
        park.apply(registered());
        park.apply(Timed::new(
            at("2025-04-11T04:00:00Z"),
            jurisdiction(BOARD, "2006-01-01"),
        ));
        park.apply(Timed::new(
            at("2025-08-01T04:00:00Z"),
            jurisdiction(CITY_BOARD, "2025-07-28"),
        ));
        assert_eq!(park.jurisdiction_at(date("2005-12-31")), None);
        assert_eq!(park.jurisdiction_at(date("2025-07-27")), Some(id(BOARD)));
        assert_eq!(
            park.jurisdiction_at(date("2025-07-28")),
            Some(id(CITY_BOARD))
        );
    }

    #[test]
    fn assigning_the_same_company_again_is_refused() {
        let assigned = InfrastructureCompanyAssigned {
            company_id: id(COMPANY),
            effective_from: date("2006-01-01"),
        };
        let result = TestFramework::<Park>::with(authorities())
            .given(vec![
                registered(),
                Timed::new(at("2025-04-11T04:00:00Z"), assigned),
            ])
            .when(ParkCommand::AssignCompany {
                park_id: id(PARK),
                occurred_at: at("2025-05-11T04:00:00Z"),
                event: InfrastructureCompanyAssigned {
                    company_id: id(COMPANY),
                    effective_from: date("2025-05-01"),
                },
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Rule {
                rule: "company_unchanged",
                ..
            })
        ));
    }

    #[test]
    fn assigning_on_an_unregistered_park_is_not_found() {
        let result = TestFramework::<Park>::with(authorities())
            .given_no_previous_events()
            .when(assign(BOARD, "2006-01-01", "2025-04-11T04:00:00Z"))
            .inspect_result();
        assert!(matches!(result, Err(DomainError::NotFound { .. })));
    }

    fn rule_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    fn succeeded_board() -> Deps {
        deps_with_successions(
            &[
                (AggregateKind::Authority, id(BOARD)),
                (AggregateKind::Authority, id(CITY_BOARD)),
            ],
            &[(id(BOARD), date("2025-07-28"))],
        )
    }

    fn under_board() -> Vec<Timed<ParkEvent>> {
        vec![
            registered(),
            Timed::new(
                at("2025-04-11T04:00:00Z"),
                jurisdiction(BOARD, "2006-01-01"),
            ),
            Timed::new(
                at("2025-04-11T04:10:00Z"),
                InfrastructureCompanyAssigned {
                    company_id: id(COMPANY),
                    effective_from: date("1996-11-14"),
                },
            ),
        ]
    }

    #[test]
    fn a_succeeded_authority_gets_no_jurisdiction_from_its_succession_date() {
        let result = TestFramework::<Park>::with(succeeded_board())
            .given(vec![
                registered(),
                Timed::new(
                    at("2025-04-11T04:00:00Z"),
                    jurisdiction(CITY_BOARD, "2006-01-01"),
                ),
            ])
            .when(assign(BOARD, "2025-07-28", "2025-08-01T04:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "authority_succeeded");
    }

    #[test]
    fn a_succeeded_authority_keeps_jurisdiction_assigned_before_its_succession() {
        TestFramework::<Park>::with(succeeded_board())
            .given(vec![registered()])
            .when(assign(BOARD, "2006-01-01", "2025-08-01T04:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-08-01T04:00:00Z"),
                jurisdiction(BOARD, "2006-01-01"),
            )]);
        TestFramework::<Park>::with(succeeded_board())
            .given(under_board())
            .when(assign(CITY_BOARD, "2025-07-28", "2025-08-01T04:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-08-01T04:00:00Z"),
                jurisdiction(CITY_BOARD, "2025-07-28"),
            )]);
    }

    fn rules(from: &str) -> ParkIndustryRulesSet {
        ParkIndustryRulesSet {
            allowed_vsic_codes: vec![
                VsicCode::parse("16", "2018").unwrap(),
                VsicCode::parse("25", "2018").unwrap(),
            ],
            excluded_vsic_codes: vec![VsicCode::parse("2011", "2018").unwrap()],
            highest_pollution_level: PollutionLevel::II,
            effective_from: date(from),
            legal_basis: None,
        }
    }

    fn set_rules(event: ParkIndustryRulesSet, when: &str) -> ParkCommand {
        ParkCommand::SetIndustryRules {
            park_id: id(PARK),
            occurred_at: at(when),
            event,
        }
    }

    #[test]
    fn industry_rules_apply_from_their_date() {
        TestFramework::<Park>::with(no_deps())
            .given(vec![registered()])
            .when(set_rules(rules("2025-05-01"), "2025-04-20T02:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-04-20T02:00:00Z"),
                rules("2025-05-01"),
            )]);
        let mut park = Park::default();
        park.apply(registered());
        park.apply(Timed::new(at("2025-04-20T02:00:00Z"), rules("2025-05-01")));
        assert!(park.industry_rules_at(date("2025-04-30")).is_none());
        assert!(park.industry_rules_at(date("2025-05-01")).is_some());
    }

    #[test]
    fn a_code_both_allowed_and_excluded_is_invalid() {
        let mut event = rules("2025-05-01");
        event
            .excluded_vsic_codes
            .push(VsicCode::parse("16", "2018").unwrap());
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![registered()])
            .when(set_rules(event, "2025-04-20T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "excluded_vsic_codes",
                ..
            })
        ));
    }

    #[test]
    fn industry_rules_are_not_set_twice_on_one_date() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![
                registered(),
                Timed::new(at("2025-04-20T02:00:00Z"), rules("2025-05-01")),
            ])
            .when(set_rules(rules("2025-05-01"), "2025-06-20T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "industry_rules_already_set_on");
    }

    fn submit_report(when: &str, company: u64, on: Option<&str>) -> ParkCommand {
        ParkCommand::SubmitAnnualReport {
            park_id: id(PARK),
            occurred_at: at(when),
            year: 2025,
            company_id: id(company),
            submitted_on: on.map(date),
            document_sha256: None,
        }
    }

    fn report_submitted(when: &str, on: &str) -> Timed<ParkEvent> {
        Timed::new(
            at(when),
            ParkAnnualEnvironmentalReportSubmitted {
                year: 2025,
                company_id: id(COMPANY),
                submitted_on: date(on),
                document_sha256: None,
            },
        )
    }

    #[test]
    fn the_company_reports_for_its_park_on_the_local_date() {
        TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(submit_report("2026-01-19T20:00:00Z", COMPANY, None))
            .then_expect_events(vec![report_submitted("2026-01-19T20:00:00Z", "2026-01-20")]);
    }

    #[test]
    fn a_park_report_on_the_twentieth_is_on_time_and_after_it_is_late() {
        let mut park = Park::default();
        for e in under_board() {
            park.apply(e);
        }
        let rules = LegalRules::default();
        let on_time = [report_submitted("2026-01-19T20:00:00Z", "2026-01-20")];
        assert!(park.judge(&on_time, &rules).is_empty());
        let late = [report_submitted("2026-01-20T17:00:00Z", "2026-01-21")];
        let breaches = park.judge(&late, &rules);
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].limit, "park_annual_report_late");
    }

    #[test]
    fn only_the_company_running_the_park_reports_for_it() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(submit_report("2026-01-10T02:00:00Z", 99, None))
            .inspect_result();
        assert_eq!(rule_of(result), "company_not_running_park");
    }

    #[test]
    fn a_park_report_dated_other_than_its_local_date_is_invalid() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(submit_report(
                "2026-01-19T20:00:00Z",
                COMPANY,
                Some("2026-01-19"),
            ))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "submitted_on",
                ..
            })
        ));
    }

    #[test]
    fn a_park_report_is_submitted_once_per_year_after_the_year() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(submit_report("2025-12-30T02:00:00Z", COMPANY, None))
            .inspect_result();
        assert_eq!(rule_of(result), "report_period_not_over");
        let mut given = under_board();
        given.push(report_submitted("2026-01-10T02:00:00Z", "2026-01-10"));
        let result = TestFramework::<Park>::with(no_deps())
            .given(given)
            .when(submit_report("2026-01-11T02:00:00Z", COMPANY, None))
            .inspect_result();
        assert_eq!(rule_of(result), "park_annual_report_already_submitted");
    }

    fn infrastructure(as_of: &str) -> EnvironmentalInfrastructureReported {
        EnvironmentalInfrastructureReported {
            company_id: id(COMPANY),
            wastewater_capacity_m3_per_day: 5_000,
            wastewater_load_m3_per_day: Some(3_100),
            monitoring_connected: true,
            as_of: date(as_of),
        }
    }

    #[test]
    fn infrastructure_is_reported_as_of_a_date_not_in_the_future() {
        TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(ParkCommand::ReportInfrastructure {
                park_id: id(PARK),
                occurred_at: at("2025-05-05T02:00:00Z"),
                event: infrastructure("2025-04-30"),
            })
            .then_expect_events(vec![Timed::new(
                at("2025-05-05T02:00:00Z"),
                infrastructure("2025-04-30"),
            )]);
        let result = TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(ParkCommand::ReportInfrastructure {
                park_id: id(PARK),
                occurred_at: at("2025-05-05T02:00:00Z"),
                event: infrastructure("2025-05-06"),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid { field: "as_of", .. })
        ));
    }

    #[test]
    fn occupancy_is_a_percentage_of_at_most_one_hundred() {
        let occupancy = |rate: &str| ParkCommand::ReportOccupancy {
            park_id: id(PARK),
            occurred_at: at("2025-05-05T02:00:00Z"),
            event: OccupancyReported {
                company_id: id(COMPANY),
                rate_percent: Decimal::parse(rate, 2).unwrap(),
                as_of: date("2024-12-31"),
            },
        };
        let result = TestFramework::<Park>::with(no_deps())
            .given(under_board())
            .when(occupancy("100.01"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "rate_percent",
                ..
            })
        ));
        for ok in ["93.77", "100", "100.00", "0", "007.5"] {
            let result = TestFramework::<Park>::with(no_deps())
                .given(under_board())
                .when(occupancy(ok))
                .inspect_result();
            assert!(result.is_ok(), "{ok}: {result:?}");
        }
    }

    fn evidence() -> Timed<ParkEvent> {
        Timed::new(
            at("2025-05-05T02:00:00Z"),
            EcoParkEvidenceRecorded {
                criterion: Text::name("Decree 35/2022, Art. 39: shared wastewater treatment")
                    .unwrap(),
                value: Text::name("100% of tenants connected").unwrap(),
                document_sha256: Sha256Hex::parse(&"ef".repeat(32)).unwrap(),
            },
        )
    }

    fn certified(valid_to: &str) -> EcoParkCertified {
        EcoParkCertified {
            certificate_no: Text::name("KCNST-01/2025").unwrap(),
            valid_to: date(valid_to),
        }
    }

    fn certify(when: &str) -> ParkCommand {
        ParkCommand::CertifyEcoPark {
            park_id: id(PARK),
            occurred_at: at(when),
            event: certified("2030-06-01"),
        }
    }

    fn revoke(certificate_no: &str) -> ParkCommand {
        ParkCommand::RevokeEcoParkCertification {
            park_id: id(PARK),
            occurred_at: at("2026-01-05T02:00:00Z"),
            event: EcoParkCertificationRevoked {
                certificate_no: Text::name(certificate_no).unwrap(),
                reason: Text::name("wastewater criterion no longer met").unwrap(),
            },
        }
    }

    #[test]
    fn a_park_is_certified_on_recorded_evidence() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![registered()])
            .when(certify("2025-06-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "eco_park_evidence_missing");
        TestFramework::<Park>::with(no_deps())
            .given(vec![registered(), evidence()])
            .when(certify("2025-06-01T02:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-06-01T02:00:00Z"),
                certified("2030-06-01"),
            )]);
    }

    #[test]
    fn a_certified_park_is_not_certified_again_while_the_certificate_runs() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![
                registered(),
                evidence(),
                Timed::new(at("2025-06-01T02:00:00Z"), certified("2030-06-01")),
            ])
            .when(certify("2025-07-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "eco_park_already_certified");
    }

    #[test]
    fn only_the_certificate_in_force_is_revoked() {
        let result = TestFramework::<Park>::with(no_deps())
            .given(vec![registered(), evidence()])
            .when(revoke("KCNST-01/2025"))
            .inspect_result();
        assert_eq!(rule_of(result), "eco_park_not_certified");
        let certified_park = vec![
            registered(),
            evidence(),
            Timed::new(at("2025-06-01T02:00:00Z"), certified("2030-06-01")),
        ];
        let result = TestFramework::<Park>::with(no_deps())
            .given(certified_park.clone())
            .when(revoke("OTHER-9"))
            .inspect_result();
        assert_eq!(rule_of(result), "eco_park_certificate_mismatch");
        let result = TestFramework::<Park>::with(no_deps())
            .given(certified_park)
            .when(revoke("KCNST-01/2025"))
            .inspect_result();
        assert!(result.is_ok(), "{result:?}");
    }
}

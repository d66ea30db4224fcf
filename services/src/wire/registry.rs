//! The registry service's conversions: authorities and their succession, infrastructure companies,
//! parks (jurisdiction, operator, industry rules, reports, eco-park certification) and tenants, and
//! each as its `Get…` response.

use kcn_domain::authority::{
    Authority, AuthorityCommand, AuthorityEstablished, AuthorityKind, AuthoritySucceeded,
};
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::park::{
    EcoParkCertificationRevoked, EcoParkCertified, EcoParkEvidenceRecorded,
    EnvironmentalInfrastructureReported, InfrastructureCompanyAssigned, JurisdictionAssigned,
    OccupancyReported, Park, ParkCommand, ParkIndustryRulesSet, ParkRegistered,
};
use kcn_domain::tenant::{
    EnvironmentalCommitmentRecorded, EnvironmentalPermitRecorded, Tenant, TenantCommand,
    TenantRegistered,
};
use kcn_domain::values::{
    CubicMetresPerDay, Decimal, EnterpriseCode, MAX_AREA_HA, ParkCode, Percent, ReportYear,
    Sha256Hex, Text, max_chars, max_items,
};
use uuid::Uuid;

use super::{
    Command, pollution_level, pollution_level_to_proto, uuid_strings, uuids, vsic_codes,
    vsic_to_proto,
};
use crate::fields::{self, Fields, optional, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    authority_kind,
    authority_kind_to_proto,
    proto::AuthorityKind,
    AuthorityKind,
    "AUTHORITY_KIND",
    [
        IndustrialParksBoard,
        ExportProcessingAndIndustrialZonesBoard,
        PeoplesCommittee,
        EnvironmentDepartment,
        Other
    ]
);

/// The park a command addresses.
fn park_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("park_id", fields::uuid(raw))
}

/// The tenant a command addresses.
fn tenant_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("tenant_id", fields::uuid(raw))
}

// Authorities.

pub fn establish_authority(
    r: proto::EstablishAuthorityRequest,
    f: &mut Fields,
) -> Option<Command<Authority>> {
    let name = f.check("name", Text::name(&r.name));
    let kind = f.check("kind", authority_kind(r.kind));
    let jurisdiction = f.check("jurisdiction", Text::name(&r.jurisdiction));
    let decision_no = f.check("decision_no", Text::number(&r.decision_no));
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let event = AuthorityEstablished {
        name: name?,
        kind: kind?,
        jurisdiction: jurisdiction?,
        decision_no: decision_no?,
        effective_from: effective_from?,
    };
    Some(Command::new(move |authority_id, occurred_at| {
        AuthorityCommand::Establish {
            authority_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn record_succession(
    r: proto::RecordAuthoritySuccessionRequest,
    f: &mut Fields,
) -> Option<Command<Authority>> {
    let id = f.check("authority_id", fields::uuid(&r.authority_id));
    let bounds = (1, max_items::PREDECESSORS);
    let predecessors = uuids(f, "predecessors", &r.predecessors, bounds);
    let successor = f.check("successor", fields::uuid(&r.successor));
    let effective_date = f.check("effective_date", fields::date(&r.effective_date));
    let legal_basis = f.check("legal_basis", Text::name(&r.legal_basis));
    let event = AuthoritySucceeded {
        predecessors: predecessors?,
        successor: successor?,
        effective_date: effective_date?,
        legal_basis: legal_basis?,
    };
    Some(Command::on(id?, move |authority_id, occurred_at| {
        AuthorityCommand::Succeed {
            authority_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

/// The authority as the wire's answer.
pub fn authority(id: Uuid, a: &Authority, version: u64) -> proto::GetAuthorityResponse {
    proto::GetAuthorityResponse {
        authority_id: id.to_string(),
        version,
        established: a.established.as_ref().map(|e| proto::AuthorityEstablished {
            name: e.name.to_string(),
            kind: authority_kind_to_proto(e.kind),
            jurisdiction: e.jurisdiction.to_string(),
            decision_no: e.decision_no.to_string(),
            effective_from: e.effective_from.to_string(),
        }),
        succession: a.succeeded.as_ref().map(|s| proto::AuthoritySucceeded {
            predecessors: uuid_strings(&s.predecessors),
            successor: s.successor.to_string(),
            effective_date: s.effective_date.to_string(),
            legal_basis: s.legal_basis.to_string(),
        }),
    }
}

// Infrastructure companies.

pub fn register_company(
    r: proto::RegisterCompanyRequest,
    f: &mut Fields,
) -> Option<Command<InfrastructureCompany>> {
    let enterprise_code = f.check("enterprise_code", EnterpriseCode::parse(&r.enterprise_code));
    let name = f.check("name", Text::name(&r.name));
    let address = f.check("address", optional_text(&r.address, max_chars::ADDRESS));
    let event = CompanyRegistered {
        enterprise_code: enterprise_code?,
        name: name?,
        address: address?,
    };
    Some(Command::new(move |company_id, occurred_at| {
        CompanyCommand::Register {
            company_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn change_company_details(
    r: proto::ChangeCompanyDetailsRequest,
    f: &mut Fields,
) -> Option<Command<InfrastructureCompany>> {
    let id = f.check("company_id", fields::uuid(&r.company_id));
    let name = f.check("name", r.name.as_deref().map(Text::name).transpose());
    let address = r.address.as_deref();
    let address = f.check(
        "address",
        address
            .map(|a| Text::parse(a, max_chars::ADDRESS))
            .transpose(),
    );
    if r.name.is_none() && r.address.is_none() {
        f.violation("name", "give at least one of name and address");
    }
    let (name, address) = (name?, address?);
    Some(Command::on(id?, move |company_id, occurred_at| {
        CompanyCommand::ChangeDetails {
            company_id,
            occurred_at,
            name: name.clone(),
            address: address.clone(),
        }
    }))
}

/// The company as the wire's answer (a company's first event registers it).
pub fn company(id: Uuid, c: &InfrastructureCompany, version: u64) -> proto::GetCompanyResponse {
    let reg = c.registered.as_ref();
    proto::GetCompanyResponse {
        company_id: id.to_string(),
        version,
        enterprise_code: reg
            .map(|r| r.enterprise_code.as_str().to_owned())
            .unwrap_or_default(),
        name: reg.map(|r| r.name.to_string()).unwrap_or_default(),
        address: reg
            .and_then(|r| r.address.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

// Parks.

pub fn register_park(r: proto::RegisterParkRequest, f: &mut Fields) -> Option<Command<Park>> {
    let code = f.check("code", ParkCode::parse(&r.code));
    let name = f.check("name", Text::name(&r.name));
    let area_ha = f.check(
        "area_ha",
        Decimal::parse_bounded(&r.area_ha, 4, MAX_AREA_HA, true),
    );
    let location = f.check("location", Text::name(&r.location));
    let event = ParkRegistered {
        code: code?,
        name: name?,
        area_ha: area_ha?,
        location: location?,
    };
    Some(Command::new(move |park_id, occurred_at| {
        ParkCommand::Register {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn assign_jurisdiction(
    r: proto::AssignJurisdictionRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let event = JurisdictionAssigned {
        authority_id: authority_id?,
        effective_from: effective_from?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::AssignJurisdiction {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn assign_company(
    r: proto::AssignInfrastructureCompanyRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let company_id = f.check("company_id", fields::uuid(&r.company_id));
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let event = InfrastructureCompanyAssigned {
        company_id: company_id?,
        effective_from: effective_from?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::AssignCompany {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn set_industry_rules(
    r: proto::SetParkIndustryRulesRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let bounds = (0, max_items::PARK_VSIC_CODES);
    let allowed = vsic_codes(f, "allowed_vsic_codes", &r.allowed_vsic_codes, bounds);
    let excluded = vsic_codes(f, "excluded_vsic_codes", &r.excluded_vsic_codes, bounds);
    let highest = f.check(
        "highest_pollution_level",
        pollution_level(r.highest_pollution_level),
    );
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let legal_basis = f.check(
        "legal_basis",
        optional_text(&r.legal_basis, max_chars::NAME),
    );
    let event = ParkIndustryRulesSet {
        allowed_vsic_codes: allowed?,
        excluded_vsic_codes: excluded?,
        highest_pollution_level: highest?,
        effective_from: effective_from?,
        legal_basis: legal_basis?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::SetIndustryRules {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn submit_park_report(
    r: proto::SubmitParkAnnualEnvironmentalReportRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let year = f.check("year", ReportYear::parse(r.year));
    let company_id = f.check("company_id", fields::uuid(&r.company_id));
    let submitted_on = f.check("submitted_on", fields::optional_date(&r.submitted_on));
    let document_sha256 = f.check(
        "document_sha256",
        optional(&r.document_sha256, Sha256Hex::parse),
    );
    let (year, company_id, submitted_on) = (year?.get(), company_id?, submitted_on?);
    let document_sha256 = document_sha256?;
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::SubmitAnnualReport {
            park_id,
            occurred_at,
            year,
            company_id,
            submitted_on,
            document_sha256: document_sha256.clone(),
        }
    }))
}

pub fn report_infrastructure(
    r: proto::ReportEnvironmentalInfrastructureRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let company_id = f.check("company_id", fields::uuid(&r.company_id));
    let capacity = f.check(
        "wastewater_capacity_m3_per_day",
        CubicMetresPerDay::parse(r.wastewater_capacity_m3_per_day),
    );
    if r.wastewater_capacity_m3_per_day == 0 {
        f.violation(
            "wastewater_capacity_m3_per_day",
            "must be positive: every park has a central wastewater treatment plant",
        );
    }
    let load = f.check(
        "wastewater_load_m3_per_day",
        r.wastewater_load_m3_per_day
            .map(CubicMetresPerDay::parse)
            .transpose(),
    );
    let as_of = f.check("as_of", fields::date(&r.as_of));
    let event = EnvironmentalInfrastructureReported {
        company_id: company_id?,
        wastewater_capacity_m3_per_day: capacity?.get(),
        wastewater_load_m3_per_day: load?.map(CubicMetresPerDay::get),
        monitoring_connected: r.monitoring_connected,
        as_of: as_of?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::ReportInfrastructure {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn report_occupancy(r: proto::ReportOccupancyRequest, f: &mut Fields) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let company_id = f.check("company_id", fields::uuid(&r.company_id));
    let rate = f.check(
        "rate_percent",
        Decimal::parse_bounded(&r.rate_percent, 2, u64::from(Percent::MAX), false),
    );
    let as_of = f.check("as_of", fields::date(&r.as_of));
    let event = OccupancyReported {
        company_id: company_id?,
        rate_percent: rate?,
        as_of: as_of?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::ReportOccupancy {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn record_eco_evidence(
    r: proto::RecordEcoParkEvidenceRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let criterion = f.check("criterion", Text::name(&r.criterion));
    let value = f.check("value", Text::note(&r.value));
    let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
    let event = EcoParkEvidenceRecorded {
        criterion: criterion?,
        value: value?,
        document_sha256: document_sha256?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::RecordEcoParkEvidence {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn certify_eco_park(r: proto::CertifyEcoParkRequest, f: &mut Fields) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let certificate_no = f.check("certificate_no", Text::number(&r.certificate_no));
    let valid_to = f.check("valid_to", fields::date(&r.valid_to));
    let event = EcoParkCertified {
        certificate_no: certificate_no?,
        valid_to: valid_to?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::CertifyEcoPark {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn revoke_eco_certification(
    r: proto::RevokeEcoParkCertificationRequest,
    f: &mut Fields,
) -> Option<Command<Park>> {
    let id = park_id(f, &r.park_id);
    let certificate_no = f.check("certificate_no", Text::number(&r.certificate_no));
    let reason = f.check("reason", Text::note(&r.reason));
    let event = EcoParkCertificationRevoked {
        certificate_no: certificate_no?,
        reason: reason?,
    };
    Some(Command::on(id?, move |park_id, occurred_at| {
        ParkCommand::RevokeEcoParkCertification {
            park_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

/// The park as the wire's answer.
pub fn park(id: Uuid, p: &Park, version: u64) -> proto::GetParkResponse {
    let period = |(from, id): &(chrono::NaiveDate, Uuid)| proto::EffectivePeriod {
        id: id.to_string(),
        effective_from: from.to_string(),
    };
    proto::GetParkResponse {
        park_id: id.to_string(),
        version,
        registration: p.registered.as_ref().map(|reg| proto::ParkRegistered {
            code: reg.code.as_str().to_owned(),
            name: reg.name.to_string(),
            area_ha: reg.area_ha.as_str().to_owned(),
            location: reg.location.to_string(),
        }),
        jurisdictions: p.jurisdictions.iter().map(period).collect(),
        infrastructure_companies: p.companies.iter().map(period).collect(),
        industry_rules: p
            .industry_rules
            .iter()
            .map(|r| proto::ParkIndustryRulesSet {
                allowed_vsic_codes: r.allowed_vsic_codes.iter().map(vsic_to_proto).collect(),
                excluded_vsic_codes: r.excluded_vsic_codes.iter().map(vsic_to_proto).collect(),
                highest_pollution_level: pollution_level_to_proto(r.highest_pollution_level),
                effective_from: r.effective_from.to_string(),
                legal_basis: r.legal_basis.as_ref().map(ToString::to_string),
            })
            .collect(),
        annual_reports: p
            .annual_reports
            .iter()
            .map(|a| proto::ParkAnnualEnvironmentalReportSubmitted {
                year: a.year,
                company_id: a.company_id.to_string(),
                submitted_on: a.submitted_on.to_string(),
                document_sha256: a.document_sha256.as_ref().map(|h| h.as_str().to_owned()),
            })
            .collect(),
        infrastructure: p.infrastructure.as_ref().map(|i| {
            proto::EnvironmentalInfrastructureReported {
                company_id: i.company_id.to_string(),
                wastewater_capacity_m3_per_day: i.wastewater_capacity_m3_per_day,
                wastewater_load_m3_per_day: i.wastewater_load_m3_per_day,
                monitoring_connected: i.monitoring_connected,
                as_of: i.as_of.to_string(),
            }
        }),
        occupancy: p.occupancy.as_ref().map(|o| proto::OccupancyReported {
            company_id: o.company_id.to_string(),
            rate_percent: o.rate_percent.as_str().to_owned(),
            as_of: o.as_of.to_string(),
        }),
        eco_park_evidence: p
            .eco_evidence
            .iter()
            .map(|e| proto::EcoParkEvidenceRecorded {
                criterion: e.criterion.to_string(),
                value: e.value.to_string(),
                document_sha256: e.document_sha256.as_str().to_owned(),
            })
            .collect(),
        eco_park_certificate: p.eco_certificate.as_ref().map(|c| proto::EcoParkCertified {
            certificate_no: c.certificate_no.to_string(),
            valid_to: c.valid_to.to_string(),
        }),
    }
}

// Tenants.

pub fn register_tenant(r: proto::RegisterTenantRequest, f: &mut Fields) -> Option<Command<Tenant>> {
    let park_id = park_id(f, &r.park_id);
    let enterprise_code = f.check("enterprise_code", EnterpriseCode::parse(&r.enterprise_code));
    let name = f.check("name", Text::name(&r.name));
    let investment_registration_no = f.check(
        "investment_registration_no",
        Text::number(&r.investment_registration_no),
    );
    let bounds = (1, max_items::TENANT_VSIC_CODES);
    let vsic_codes = vsic_codes(f, "vsic_codes", &r.vsic_codes, bounds);
    let event = TenantRegistered {
        park_id: park_id?,
        enterprise_code: enterprise_code?,
        name: name?,
        investment_registration_no: investment_registration_no?,
        vsic_codes: vsic_codes?,
        foreign_invested: r.foreign_invested,
    };
    Some(Command::new(move |tenant_id, occurred_at| {
        TenantCommand::Register {
            tenant_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn record_permit(
    r: proto::RecordEnvironmentalPermitRequest,
    f: &mut Fields,
) -> Option<Command<Tenant>> {
    let id = tenant_id(f, &r.tenant_id);
    let permit_no = f.check("permit_no", Text::number(&r.permit_no));
    let issuer = f.check("issuer", Text::name(&r.issuer));
    let valid_from = f.check("valid_from", fields::date(&r.valid_from));
    let valid_to = f.check("valid_to", fields::optional_date(&r.valid_to));
    let event = EnvironmentalPermitRecorded {
        permit_no: permit_no?,
        issuer: issuer?,
        valid_from: valid_from?,
        valid_to: valid_to?,
    };
    Some(Command::on(id?, move |tenant_id, occurred_at| {
        TenantCommand::RecordPermit {
            tenant_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn record_commitment(
    r: proto::RecordEnvironmentalCommitmentRequest,
    f: &mut Fields,
) -> Option<Command<Tenant>> {
    let id = tenant_id(f, &r.tenant_id);
    let commitment_id = f.check("commitment_id", Text::code(&r.commitment_id));
    let requirement = f.check("requirement", Text::body(&r.requirement));
    let event = EnvironmentalCommitmentRecorded {
        commitment_id: commitment_id?,
        requirement: requirement?,
    };
    Some(Command::on(id?, move |tenant_id, occurred_at| {
        TenantCommand::RecordCommitment {
            tenant_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn submit_tenant_report(
    r: proto::SubmitAnnualEnvironmentalReportRequest,
    f: &mut Fields,
) -> Option<Command<Tenant>> {
    let id = tenant_id(f, &r.tenant_id);
    let year = f.check("year", ReportYear::parse(r.year));
    let submitted_on = f.check("submitted_on", fields::optional_date(&r.submitted_on));
    let (year, submitted_on) = (year?.get(), submitted_on?);
    Some(Command::on(id?, move |tenant_id, occurred_at| {
        TenantCommand::SubmitAnnualReport {
            tenant_id,
            occurred_at,
            year,
            submitted_on,
        }
    }))
}

/// The tenant as the wire's answer.
pub fn tenant(id: Uuid, t: &Tenant, version: u64) -> proto::GetTenantResponse {
    proto::GetTenantResponse {
        tenant_id: id.to_string(),
        version,
        registration: t.registered.as_ref().map(|reg| proto::TenantRegistered {
            park_id: reg.park_id.to_string(),
            enterprise_code: reg.enterprise_code.as_str().to_owned(),
            name: reg.name.to_string(),
            investment_registration_no: reg.investment_registration_no.to_string(),
            vsic_codes: reg.vsic_codes.iter().map(vsic_to_proto).collect(),
            foreign_invested: reg.foreign_invested,
        }),
        permits: t
            .permits
            .iter()
            .map(|p| proto::EnvironmentalPermitRecorded {
                permit_no: p.permit_no.to_string(),
                issuer: p.issuer.to_string(),
                valid_from: p.valid_from.to_string(),
                valid_to: p.valid_to.map(|d| d.to_string()),
            })
            .collect(),
        commitments: t
            .commitments
            .iter()
            .map(|c| proto::EnvironmentalCommitmentRecorded {
                commitment_id: c.commitment_id.to_string(),
                requirement: c.requirement.to_string(),
            })
            .collect(),
        annual_reports: t
            .reports
            .iter()
            .map(|a| proto::AnnualEnvironmentalReportSubmitted {
                year: a.year,
                submitted_on: a.submitted_on.to_string(),
            })
            .collect(),
    }
}

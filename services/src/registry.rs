//! The registry service: authorities, infrastructure companies, parks and tenants.

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
    Decimal, EnterpriseCode, ParkCode, Sha256Hex, Text, ValueError, VsicCode,
};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};

use crate::consultation::{pollution_level, pollution_level_to_proto, vsic_codes, vsic_to_proto};
use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, registry_service_server::RegistryService};
use crate::wire_enum;
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Registry(pub Ledger);

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

/// A SHA-256 that may be left empty.
fn optional_sha256(raw: &str) -> Result<Option<Sha256Hex>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Sha256Hex::parse(raw).map(Some)
    }
}

fn outcome<T>(
    make: impl FnOnce(Option<proto::CommandOutcome>) -> T,
    o: proto::CommandOutcome,
) -> Response<T> {
    Response::new(make(Some(o)))
}

#[tonic::async_trait]
impl RegistryService for Registry {
    async fn establish_authority(
        &self,
        request: Request<proto::EstablishAuthorityRequest>,
    ) -> Result<Response<proto::EstablishAuthorityResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let name = f.check("name", Text::name(&r.name));
        let kind = f.check("kind", authority_kind(r.kind));
        let jurisdiction = f.check("jurisdiction", Text::name(&r.jurisdiction));
        let decision_no = f.check("decision_no", Text::parse(&r.decision_no, 100));
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        f.finish()?;
        take!(
            header,
            name,
            kind,
            jurisdiction,
            decision_no,
            effective_from
        );
        let occurred_at = header.occurred_at;
        let event = AuthorityEstablished {
            name,
            kind,
            jurisdiction,
            decision_no,
            effective_from,
        };
        let o = self
            .0
            .run::<Authority, _>(Target::New, header, move |authority_id| {
                AuthorityCommand::Establish {
                    authority_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::EstablishAuthorityResponse { outcome },
            o,
        ))
    }

    async fn get_authority(
        &self,
        request: Request<proto::GetAuthorityRequest>,
    ) -> Result<Response<proto::GetAuthorityResponse>, Status> {
        let r = request.into_inner();
        let (id, a, version) = self
            .0
            .get::<Authority>("authority_id", &r.authority_id)
            .await?;
        let established = a.established.map(|e| proto::AuthorityEstablished {
            name: e.name.to_string(),
            kind: authority_kind_to_proto(e.kind) as i32,
            jurisdiction: e.jurisdiction.to_string(),
            decision_no: e.decision_no.to_string(),
            effective_from: e.effective_from.to_string(),
        });
        let succession = a.succeeded.map(|s| proto::AuthoritySucceeded {
            predecessors: s.predecessors.iter().map(ToString::to_string).collect(),
            successor: s.successor.to_string(),
            effective_date: s.effective_date.to_string(),
            legal_basis: s.legal_basis.to_string(),
        });
        Ok(Response::new(proto::GetAuthorityResponse {
            authority_id: id.to_string(),
            version,
            established,
            succession,
        }))
    }

    async fn register_company(
        &self,
        request: Request<proto::RegisterCompanyRequest>,
    ) -> Result<Response<proto::RegisterCompanyResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let enterprise_code = f.check("enterprise_code", EnterpriseCode::parse(&r.enterprise_code));
        let name = f.check("name", Text::name(&r.name));
        let address = f.check("address", optional_text(&r.address, 500));
        f.finish()?;
        take!(header, enterprise_code, name, address);
        let occurred_at = header.occurred_at;
        let event = CompanyRegistered {
            enterprise_code,
            name,
            address,
        };
        let o = self
            .0
            .run::<InfrastructureCompany, _>(Target::New, header, move |company_id| {
                CompanyCommand::Register {
                    company_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RegisterCompanyResponse { outcome },
            o,
        ))
    }

    async fn change_company_details(
        &self,
        request: Request<proto::ChangeCompanyDetailsRequest>,
    ) -> Result<Response<proto::ChangeCompanyDetailsResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let name = f.check("name", r.name.as_deref().map(Text::name).transpose());
        let address = f.check(
            "address",
            r.address
                .as_deref()
                .map(|a| Text::parse(a, 500))
                .transpose(),
        );
        if r.name.is_none() && r.address.is_none() {
            f.violation("name", "give at least one of name and address");
        }
        f.finish()?;
        take!(header, company_id, name, address);
        let occurred_at = header.occurred_at;
        let o = self
            .0
            .run::<InfrastructureCompany, _>(
                Target::Existing(company_id),
                header,
                move |company_id| CompanyCommand::ChangeDetails {
                    company_id,
                    occurred_at,
                    name: name.clone(),
                    address: address.clone(),
                },
            )
            .await?;
        Ok(outcome(
            |outcome| proto::ChangeCompanyDetailsResponse { outcome },
            o,
        ))
    }

    async fn get_company(
        &self,
        request: Request<proto::GetCompanyRequest>,
    ) -> Result<Response<proto::GetCompanyResponse>, Status> {
        let r = request.into_inner();
        let (id, c, version) = self
            .0
            .get::<InfrastructureCompany>("company_id", &r.company_id)
            .await?;
        let reg = c
            .registered
            .ok_or_else(|| Status::internal("registered company without registration"))?;
        Ok(Response::new(proto::GetCompanyResponse {
            company_id: id.to_string(),
            version,
            enterprise_code: reg.enterprise_code.as_str().to_owned(),
            name: reg.name.to_string(),
            address: reg.address.map(|a| a.to_string()).unwrap_or_default(),
        }))
    }

    async fn register_park(
        &self,
        request: Request<proto::RegisterParkRequest>,
    ) -> Result<Response<proto::RegisterParkResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let code = f.check("code", ParkCode::parse(&r.code));
        let name = f.check("name", Text::name(&r.name));
        let area_ha = f.check("area_ha", Decimal::parse(&r.area_ha, 4));
        let location = f.check("location", Text::name(&r.location));
        f.finish()?;
        take!(header, code, name, area_ha, location);
        let occurred_at = header.occurred_at;
        let event = ParkRegistered {
            code,
            name,
            area_ha,
            location,
        };
        let o = self
            .0
            .run::<Park, _>(Target::New, header, move |park_id| ParkCommand::Register {
                park_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RegisterParkResponse { outcome },
            o,
        ))
    }

    async fn assign_jurisdiction(
        &self,
        request: Request<proto::AssignJurisdictionRequest>,
    ) -> Result<Response<proto::AssignJurisdictionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        f.finish()?;
        take!(header, park_id, authority_id, effective_from);
        let occurred_at = header.occurred_at;
        let event = JurisdictionAssigned {
            authority_id,
            effective_from,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::AssignJurisdiction {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::AssignJurisdictionResponse { outcome },
            o,
        ))
    }

    async fn assign_infrastructure_company(
        &self,
        request: Request<proto::AssignInfrastructureCompanyRequest>,
    ) -> Result<Response<proto::AssignInfrastructureCompanyResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        f.finish()?;
        take!(header, park_id, company_id, effective_from);
        let occurred_at = header.occurred_at;
        let event = InfrastructureCompanyAssigned {
            company_id,
            effective_from,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::AssignCompany {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::AssignInfrastructureCompanyResponse { outcome },
            o,
        ))
    }

    async fn get_park(
        &self,
        request: Request<proto::GetParkRequest>,
    ) -> Result<Response<proto::GetParkResponse>, Status> {
        let r = request.into_inner();
        let (id, p, version) = self.0.get::<Park>("park_id", &r.park_id).await?;
        let period = |(from, id): &(chrono::NaiveDate, uuid::Uuid)| proto::EffectivePeriod {
            id: id.to_string(),
            effective_from: from.to_string(),
        };
        Ok(Response::new(proto::GetParkResponse {
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
                    highest_pollution_level: pollution_level_to_proto(r.highest_pollution_level)
                        as i32,
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
        }))
    }

    async fn register_tenant(
        &self,
        request: Request<proto::RegisterTenantRequest>,
    ) -> Result<Response<proto::RegisterTenantResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let enterprise_code = f.check("enterprise_code", EnterpriseCode::parse(&r.enterprise_code));
        let name = f.check("name", Text::name(&r.name));
        let investment_registration_no = f.check(
            "investment_registration_no",
            Text::parse(&r.investment_registration_no, 100),
        );
        if r.vsic_codes.is_empty() {
            f.violation("vsic_codes", "at least one VSIC code is required");
        }
        let vsic_codes: Vec<Option<VsicCode>> = r
            .vsic_codes
            .iter()
            .enumerate()
            .map(|(i, v)| {
                f.check(
                    &format!("vsic_codes[{i}]"),
                    VsicCode::parse(&v.code, &v.version),
                )
            })
            .collect();
        f.finish()?;
        take!(
            header,
            park_id,
            enterprise_code,
            name,
            investment_registration_no
        );
        let vsic_codes: Vec<VsicCode> = vsic_codes.into_iter().flatten().collect();
        let occurred_at = header.occurred_at;
        let event = TenantRegistered {
            park_id,
            enterprise_code,
            name,
            investment_registration_no,
            vsic_codes,
            foreign_invested: r.foreign_invested,
        };
        let o = self
            .0
            .run::<Tenant, _>(Target::New, header, move |tenant_id| {
                TenantCommand::Register {
                    tenant_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RegisterTenantResponse { outcome },
            o,
        ))
    }

    async fn record_environmental_permit(
        &self,
        request: Request<proto::RecordEnvironmentalPermitRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalPermitResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        let permit_no = f.check("permit_no", Text::parse(&r.permit_no, 100));
        let issuer = f.check("issuer", Text::name(&r.issuer));
        let valid_from = f.check("valid_from", fields::date(&r.valid_from));
        let valid_to = f.check("valid_to", fields::optional_date(&r.valid_to));
        f.finish()?;
        take!(header, tenant_id, permit_no, issuer, valid_from, valid_to);
        let occurred_at = header.occurred_at;
        let event = EnvironmentalPermitRecorded {
            permit_no,
            issuer,
            valid_from,
            valid_to,
        };
        let o = self
            .0
            .run::<Tenant, _>(Target::Existing(tenant_id), header, move |tenant_id| {
                TenantCommand::RecordPermit {
                    tenant_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RecordEnvironmentalPermitResponse { outcome },
            o,
        ))
    }

    async fn record_environmental_commitment(
        &self,
        request: Request<proto::RecordEnvironmentalCommitmentRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalCommitmentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        let commitment_id = f.check("commitment_id", Text::parse(&r.commitment_id, 64));
        let requirement = f.check("requirement", Text::body(&r.requirement));
        f.finish()?;
        take!(header, tenant_id, commitment_id, requirement);
        let occurred_at = header.occurred_at;
        let event = EnvironmentalCommitmentRecorded {
            commitment_id,
            requirement,
        };
        let o = self
            .0
            .run::<Tenant, _>(Target::Existing(tenant_id), header, move |tenant_id| {
                TenantCommand::RecordCommitment {
                    tenant_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RecordEnvironmentalCommitmentResponse { outcome },
            o,
        ))
    }

    async fn submit_annual_environmental_report(
        &self,
        request: Request<proto::SubmitAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitAnnualEnvironmentalReportResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        let submitted_on = f.check("submitted_on", fields::optional_date(&r.submitted_on));
        if !(1990..=9998).contains(&r.year) {
            f.violation("year", "must be a calendar year from 1990");
        }
        f.finish()?;
        take!(header, tenant_id, submitted_on);
        let (occurred_at, year) = (header.occurred_at, r.year);
        let o = self
            .0
            .run::<Tenant, _>(Target::Existing(tenant_id), header, move |tenant_id| {
                TenantCommand::SubmitAnnualReport {
                    tenant_id,
                    occurred_at,
                    year,
                    submitted_on,
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::SubmitAnnualEnvironmentalReportResponse { outcome },
            o,
        ))
    }

    async fn get_tenant(
        &self,
        request: Request<proto::GetTenantRequest>,
    ) -> Result<Response<proto::GetTenantResponse>, Status> {
        let r = request.into_inner();
        let (id, t, version) = self.0.get::<Tenant>("tenant_id", &r.tenant_id).await?;
        Ok(Response::new(proto::GetTenantResponse {
            tenant_id: id.to_string(),
            version,
            registration: t.registered.as_ref().map(|reg| proto::TenantRegistered {
                park_id: reg.park_id.to_string(),
                enterprise_code: reg.enterprise_code.as_str().to_owned(),
                name: reg.name.to_string(),
                investment_registration_no: reg.investment_registration_no.to_string(),
                vsic_codes: reg
                    .vsic_codes
                    .iter()
                    .map(|v| proto::VsicCode {
                        code: v.code.clone(),
                        version: v.version.clone(),
                    })
                    .collect(),
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
        }))
    }

    async fn record_authority_succession(
        &self,
        request: Request<proto::RecordAuthoritySuccessionRequest>,
    ) -> Result<Response<proto::RecordAuthoritySuccessionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        if r.predecessors.is_empty() {
            f.violation("predecessors", "at least one predecessor is required");
        }
        let predecessors: Vec<Option<uuid::Uuid>> = r
            .predecessors
            .iter()
            .enumerate()
            .map(|(i, p)| f.check(&format!("predecessors[{i}]"), fields::uuid(p)))
            .collect();
        let successor = f.check("successor", fields::uuid(&r.successor));
        let effective_date = f.check("effective_date", fields::date(&r.effective_date));
        let legal_basis = f.check("legal_basis", Text::name(&r.legal_basis));
        f.finish()?;
        take!(header, authority_id, successor, effective_date, legal_basis);
        let occurred_at = header.occurred_at;
        let event = AuthoritySucceeded {
            predecessors: predecessors.into_iter().flatten().collect(),
            successor,
            effective_date,
            legal_basis,
        };
        let o = self
            .0
            .run::<Authority, _>(
                Target::Existing(authority_id),
                header,
                move |authority_id| AuthorityCommand::Succeed {
                    authority_id,
                    occurred_at,
                    event: event.clone(),
                },
            )
            .await?;
        Ok(outcome(
            |outcome| proto::RecordAuthoritySuccessionResponse { outcome },
            o,
        ))
    }

    async fn set_park_industry_rules(
        &self,
        request: Request<proto::SetParkIndustryRulesRequest>,
    ) -> Result<Response<proto::SetParkIndustryRulesResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let allowed = vsic_codes(&mut f, "allowed_vsic_codes", &r.allowed_vsic_codes);
        let excluded = vsic_codes(&mut f, "excluded_vsic_codes", &r.excluded_vsic_codes);
        let highest = f.check(
            "highest_pollution_level",
            pollution_level(r.highest_pollution_level),
        );
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        let legal_basis = f.check("legal_basis", optional_text(&r.legal_basis, 300));
        f.finish()?;
        take!(header, park_id, highest, effective_from, legal_basis);
        let occurred_at = header.occurred_at;
        let event = ParkIndustryRulesSet {
            allowed_vsic_codes: allowed,
            excluded_vsic_codes: excluded,
            highest_pollution_level: highest,
            effective_from,
            legal_basis,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::SetIndustryRules {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::SetParkIndustryRulesResponse { outcome },
            o,
        ))
    }

    async fn submit_park_annual_environmental_report(
        &self,
        request: Request<proto::SubmitParkAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitParkAnnualEnvironmentalReportResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let submitted_on = f.check("submitted_on", fields::optional_date(&r.submitted_on));
        let document_sha256 = f.check("document_sha256", optional_sha256(&r.document_sha256));
        if !(1990..=9998).contains(&r.year) {
            f.violation("year", "must be a calendar year from 1990");
        }
        f.finish()?;
        take!(header, park_id, company_id, submitted_on, document_sha256);
        let (occurred_at, year) = (header.occurred_at, r.year);
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::SubmitAnnualReport {
                    park_id,
                    occurred_at,
                    year,
                    company_id,
                    submitted_on,
                    document_sha256: document_sha256.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::SubmitParkAnnualEnvironmentalReportResponse { outcome },
            o,
        ))
    }

    async fn report_environmental_infrastructure(
        &self,
        request: Request<proto::ReportEnvironmentalInfrastructureRequest>,
    ) -> Result<Response<proto::ReportEnvironmentalInfrastructureResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let as_of = f.check("as_of", fields::date(&r.as_of));
        if r.wastewater_capacity_m3_per_day == 0 {
            f.violation(
                "wastewater_capacity_m3_per_day",
                "must be positive: every park has a central wastewater treatment plant",
            );
        }
        f.finish()?;
        take!(header, park_id, company_id, as_of);
        let occurred_at = header.occurred_at;
        let event = EnvironmentalInfrastructureReported {
            company_id,
            wastewater_capacity_m3_per_day: r.wastewater_capacity_m3_per_day,
            wastewater_load_m3_per_day: r.wastewater_load_m3_per_day,
            monitoring_connected: r.monitoring_connected,
            as_of,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::ReportInfrastructure {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::ReportEnvironmentalInfrastructureResponse { outcome },
            o,
        ))
    }

    async fn report_occupancy(
        &self,
        request: Request<proto::ReportOccupancyRequest>,
    ) -> Result<Response<proto::ReportOccupancyResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let rate_percent = f.check("rate_percent", Decimal::parse(&r.rate_percent, 2));
        let as_of = f.check("as_of", fields::date(&r.as_of));
        f.finish()?;
        take!(header, park_id, company_id, rate_percent, as_of);
        let occurred_at = header.occurred_at;
        let event = OccupancyReported {
            company_id,
            rate_percent,
            as_of,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::ReportOccupancy {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::ReportOccupancyResponse { outcome },
            o,
        ))
    }

    async fn record_eco_park_evidence(
        &self,
        request: Request<proto::RecordEcoParkEvidenceRequest>,
    ) -> Result<Response<proto::RecordEcoParkEvidenceResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let criterion = f.check("criterion", Text::name(&r.criterion));
        let value = f.check("value", Text::parse(&r.value, 2_000));
        let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
        f.finish()?;
        take!(header, park_id, criterion, value, document_sha256);
        let occurred_at = header.occurred_at;
        let event = EcoParkEvidenceRecorded {
            criterion,
            value,
            document_sha256,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::RecordEcoParkEvidence {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RecordEcoParkEvidenceResponse { outcome },
            o,
        ))
    }

    async fn certify_eco_park(
        &self,
        request: Request<proto::CertifyEcoParkRequest>,
    ) -> Result<Response<proto::CertifyEcoParkResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let certificate_no = f.check("certificate_no", Text::parse(&r.certificate_no, 100));
        let valid_to = f.check("valid_to", fields::date(&r.valid_to));
        f.finish()?;
        take!(header, park_id, certificate_no, valid_to);
        let occurred_at = header.occurred_at;
        let event = EcoParkCertified {
            certificate_no,
            valid_to,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::CertifyEcoPark {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::CertifyEcoParkResponse { outcome },
            o,
        ))
    }

    async fn revoke_eco_park_certification(
        &self,
        request: Request<proto::RevokeEcoParkCertificationRequest>,
    ) -> Result<Response<proto::RevokeEcoParkCertificationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let certificate_no = f.check("certificate_no", Text::parse(&r.certificate_no, 100));
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        f.finish()?;
        take!(header, park_id, certificate_no, reason);
        let occurred_at = header.occurred_at;
        let event = EcoParkCertificationRevoked {
            certificate_no,
            reason,
        };
        let o = self
            .0
            .run::<Park, _>(Target::Existing(park_id), header, move |park_id| {
                ParkCommand::RevokeEcoParkCertification {
                    park_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(outcome(
            |outcome| proto::RevokeEcoParkCertificationResponse { outcome },
            o,
        ))
    }
}

//! The industry-consultation service: a company consults the Board on whether an investor's industry
//! fits the park, the Board determines, and a favourable consultation is linked to its tenant. It also
//! holds the edge conversions of VSIC codes and pollution levels, which the registry shares.

use kcn_domain::consultation::{
    Capacity, CompanyOpinionSubmitted, ConsultationCommand, ConsultationLinkedToTenant,
    ConsultationOpened, ConsultationWithdrawn, IndustryConsultation, PollutionLevel, Suitability,
};
use kcn_domain::information_exchange::Attachment;
use kcn_domain::values::{Decimal, Sha256Hex, Text, ValueError, VsicCode};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, industry_consultation_service_server::IndustryConsultationService};
use crate::wire_enum;
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Consultations(pub Ledger);

/// A pollution level of the contract; `UNSPECIFIED` is refused (say `NONE` for an unlisted type).
pub(crate) fn pollution_level(raw: i32) -> Result<PollutionLevel, ValueError> {
    use proto::PollutionLevel as P;
    match P::try_from(raw) {
        Ok(P::None) => Ok(PollutionLevel::None),
        Ok(P::Iii) => Ok(PollutionLevel::III),
        Ok(P::Ii) => Ok(PollutionLevel::II),
        Ok(P::I) => Ok(PollutionLevel::I),
        Ok(P::Unspecified) | Err(_) => Err(ValueError(
            "must be POLLUTION_LEVEL_NONE, _III, _II or _I (Annex II of Decree 08/2022)".into(),
        )),
    }
}

pub(crate) fn pollution_level_to_proto(level: PollutionLevel) -> proto::PollutionLevel {
    match level {
        PollutionLevel::None => proto::PollutionLevel::None,
        PollutionLevel::III => proto::PollutionLevel::Iii,
        PollutionLevel::II => proto::PollutionLevel::Ii,
        PollutionLevel::I => proto::PollutionLevel::I,
    }
}

/// Parses a list of VSIC codes, naming each malformed one by its index.
pub(crate) fn vsic_codes(f: &mut Fields, field: &str, raw: &[proto::VsicCode]) -> Vec<VsicCode> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            f.check(
                &format!("{field}[{i}]"),
                VsicCode::parse(&v.code, &v.version),
            )
        })
        .collect()
}

pub(crate) fn vsic_to_proto(v: &VsicCode) -> proto::VsicCode {
    proto::VsicCode {
        code: v.code.clone(),
        version: v.version.clone(),
    }
}

wire_enum!(
    suitability,
    suitability_to_proto,
    proto::Suitability,
    Suitability,
    "SUITABILITY",
    [Suitable, Conditional, Unsuitable]
);

fn attachment_to_proto(a: &Attachment) -> proto::Attachment {
    proto::Attachment {
        name: a.name.to_string(),
        sha256: a.sha256.as_str().to_owned(),
    }
}

impl Consultations {
    /// Runs a command on an existing consultation.
    async fn on(
        &self,
        id: Uuid,
        header: crate::Header,
        build: impl Fn(Uuid) -> ConsultationCommand + Send + Sync + 'static,
    ) -> Result<Option<proto::CommandOutcome>, Status> {
        self.0
            .run::<IndustryConsultation, _>(Target::Existing(id), header, build)
            .await
            .map(Some)
    }
}

#[tonic::async_trait]
impl IndustryConsultationService for Consultations {
    async fn open_consultation(
        &self,
        request: Request<proto::OpenConsultationRequest>,
    ) -> Result<Response<proto::OpenConsultationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let company_id = f.check("company_id", fields::uuid(&r.company_id));
        let prospective_investor =
            f.check("prospective_investor", Text::name(&r.prospective_investor));
        let project = f.check("project", optional_text(&r.project, 300));
        let vsic_code = match &r.vsic_code {
            Some(v) => f.check("vsic_code", VsicCode::parse(&v.code, &v.version)),
            None => {
                f.violation("vsic_code", "is required: a VSIC code and its version");
                None
            }
        };
        let pollution_level = f.check("pollution_level", pollution_level(r.pollution_level));
        let capacity = match &r.capacity {
            Some(c) => {
                let value = f.check("capacity.value", Decimal::parse(&c.value, 4));
                let unit = f.check("capacity.unit", Text::parse(&c.unit, 64));
                value
                    .zip(unit)
                    .map(|(value, unit)| Capacity { value, unit })
            }
            None => {
                f.violation("capacity", "is required: a decimal value and its unit");
                None
            }
        };
        f.finish()?;
        take!(
            header,
            park_id,
            company_id,
            prospective_investor,
            project,
            vsic_code,
            pollution_level,
            capacity
        );
        let occurred_at = header.occurred_at;
        let event = ConsultationOpened {
            park_id,
            company_id,
            prospective_investor,
            project,
            vsic_code,
            pollution_level,
            capacity,
        };
        let o = self
            .0
            .run::<IndustryConsultation, _>(Target::New, header, move |consultation_id| {
                ConsultationCommand::Open {
                    consultation_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::OpenConsultationResponse {
            outcome: Some(o),
        }))
    }

    async fn submit_company_opinion(
        &self,
        request: Request<proto::SubmitCompanyOpinionRequest>,
    ) -> Result<Response<proto::SubmitCompanyOpinionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self.0.step(
            &mut f,
            "consultation_id",
            r.header.as_ref(),
            &r.consultation_id,
        );
        let opinion = f.check("opinion", Text::body(&r.opinion));
        if r.attachments.len() > 100 {
            f.violation("attachments", "at most 100 attachments");
        }
        let attachments: Vec<Attachment> = r
            .attachments
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let name = f.check(&format!("attachments[{i}].name"), Text::name(&a.name));
                let sha256 = f.check(
                    &format!("attachments[{i}].sha256"),
                    Sha256Hex::parse(&a.sha256),
                );
                Some(Attachment {
                    name: name?,
                    sha256: sha256?,
                })
            })
            .collect();
        f.finish()?;
        take!(header, id, opinion);
        let occurred_at = header.occurred_at;
        let event = CompanyOpinionSubmitted {
            opinion,
            attachments,
        };
        let outcome = self
            .on(id, header, move |consultation_id| {
                ConsultationCommand::SubmitOpinion {
                    consultation_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::SubmitCompanyOpinionResponse {
            outcome,
        }))
    }

    async fn determine_suitability(
        &self,
        request: Request<proto::DetermineSuitabilityRequest>,
    ) -> Result<Response<proto::DetermineSuitabilityResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self.0.step(
            &mut f,
            "consultation_id",
            r.header.as_ref(),
            &r.consultation_id,
        );
        let determination = f.check("determination", suitability(r.determination));
        let conditions: Vec<Text> = r
            .conditions
            .iter()
            .enumerate()
            .filter_map(|(i, c)| f.check(&format!("conditions[{i}]"), Text::parse(c, 2_000)))
            .collect();
        let rationale = f.check("rationale", Text::body(&r.rationale));
        let legal_basis = f.check("legal_basis", Text::name(&r.legal_basis));
        let decided_on = f.check("decided_on", fields::optional_date(&r.decided_on));
        let document_no = f.check("document_no", optional_text(&r.document_no, 100));
        f.finish()?;
        take!(
            header,
            id,
            determination,
            rationale,
            legal_basis,
            decided_on,
            document_no
        );
        let occurred_at = header.occurred_at;
        let outcome = self
            .on(id, header, move |consultation_id| {
                ConsultationCommand::Determine {
                    consultation_id,
                    occurred_at,
                    determination,
                    conditions: conditions.clone(),
                    rationale: rationale.clone(),
                    legal_basis: legal_basis.clone(),
                    decided_on,
                    document_no: document_no.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::DetermineSuitabilityResponse {
            outcome,
        }))
    }

    async fn withdraw_consultation(
        &self,
        request: Request<proto::WithdrawConsultationRequest>,
    ) -> Result<Response<proto::WithdrawConsultationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self.0.step(
            &mut f,
            "consultation_id",
            r.header.as_ref(),
            &r.consultation_id,
        );
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        f.finish()?;
        take!(header, id, reason);
        let occurred_at = header.occurred_at;
        let event = ConsultationWithdrawn { reason };
        let outcome = self
            .on(id, header, move |consultation_id| {
                ConsultationCommand::Withdraw {
                    consultation_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::WithdrawConsultationResponse {
            outcome,
        }))
    }

    async fn link_consultation_to_tenant(
        &self,
        request: Request<proto::LinkConsultationToTenantRequest>,
    ) -> Result<Response<proto::LinkConsultationToTenantResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self.0.step(
            &mut f,
            "consultation_id",
            r.header.as_ref(),
            &r.consultation_id,
        );
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        f.finish()?;
        take!(header, id, tenant_id);
        let occurred_at = header.occurred_at;
        let outcome = self
            .on(id, header, move |consultation_id| {
                ConsultationCommand::LinkToTenant {
                    consultation_id,
                    occurred_at,
                    event: ConsultationLinkedToTenant { tenant_id },
                }
            })
            .await?;
        Ok(Response::new(proto::LinkConsultationToTenantResponse {
            outcome,
        }))
    }

    async fn get_consultation(
        &self,
        request: Request<proto::GetConsultationRequest>,
    ) -> Result<Response<proto::GetConsultationResponse>, Status> {
        let r = request.into_inner();
        let (id, c, version) = self
            .0
            .get::<IndustryConsultation>("consultation_id", &r.consultation_id)
            .await?;
        let status = if c.withdrawn.is_some() {
            proto::ConsultationStatus::Withdrawn
        } else if c.tenant_id.is_some() {
            proto::ConsultationStatus::Linked
        } else if c.determination.is_some() {
            proto::ConsultationStatus::Determined
        } else {
            proto::ConsultationStatus::Open
        };
        Ok(Response::new(proto::GetConsultationResponse {
            consultation_id: id.to_string(),
            version,
            status: status as i32,
            opened: c.opened.as_ref().map(|o| proto::ConsultationOpened {
                park_id: o.park_id.to_string(),
                company_id: o.company_id.to_string(),
                prospective_investor: o.prospective_investor.to_string(),
                project: o.project.as_ref().map(ToString::to_string),
                vsic_code: Some(vsic_to_proto(&o.vsic_code)),
                pollution_level: pollution_level_to_proto(o.pollution_level) as i32,
                capacity: Some(proto::Capacity {
                    value: o.capacity.value.as_str().to_owned(),
                    unit: o.capacity.unit.to_string(),
                }),
            }),
            opened_at: c.opened_at.map(fields::timestamp),
            opinions: c
                .opinions
                .iter()
                .map(|o| proto::CompanyOpinionSubmitted {
                    opinion: o.opinion.to_string(),
                    attachments: o.attachments.iter().map(attachment_to_proto).collect(),
                })
                .collect(),
            determination: c
                .determination
                .as_ref()
                .map(|d| proto::SuitabilityDetermined {
                    determination: suitability_to_proto(d.determination) as i32,
                    conditions: d.conditions.iter().map(ToString::to_string).collect(),
                    rationale: d.rationale.to_string(),
                    legal_basis: d.legal_basis.to_string(),
                    decided_on: d.decided_on.to_string(),
                    document_no: d.document_no.as_ref().map(ToString::to_string),
                }),
            withdrawal: c.withdrawn.as_ref().map(|w| proto::ConsultationWithdrawn {
                reason: w.reason.to_string(),
            }),
            tenant_id: c.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        }))
    }
}

//! The agreement service: the coordination regulation between the Board and the infrastructure
//! companies, its amendments of the service levels, and its replacement.

use kcn_domain::agreement::{
    AgreementAmended, AgreementCommand, AgreementSigned, AgreementSuperseded,
    CoordinationAgreement, ServiceLevels,
};
use kcn_domain::time::local_date;
use kcn_domain::values::{Sha256Hex, Text, ValueError};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, agreement_service_server::AgreementService};
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Agreements(pub Ledger);

/// The service levels of a request; the domain refuses zeros by field name.
fn service_levels(f: &mut Fields, raw: Option<&proto::ServiceLevels>) -> Option<ServiceLevels> {
    let Some(s) = raw else {
        f.violation(
            "service_levels",
            "is required: at least the hours to notify an incident and the days to answer a request",
        );
        return None;
    };
    Some(ServiceLevels {
        incident_notification_hours: s.incident_notification_hours,
        information_answer_days: s.information_answer_days,
        infrastructure_information_days: s.infrastructure_information_days,
        consultation_answer_days: s.consultation_answer_days,
        quarterly_report_due_day: s.quarterly_report_due_day,
    })
}

fn service_levels_to_proto(s: &ServiceLevels) -> proto::ServiceLevels {
    proto::ServiceLevels {
        incident_notification_hours: s.incident_notification_hours,
        information_answer_days: s.information_answer_days,
        infrastructure_information_days: s.infrastructure_information_days,
        consultation_answer_days: s.consultation_answer_days,
        quarterly_report_due_day: s.quarterly_report_due_day,
    }
}

fn optional_sha256(raw: &str) -> Result<Option<Sha256Hex>, ValueError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Sha256Hex::parse(raw).map(Some)
    }
}

#[tonic::async_trait]
impl AgreementService for Agreements {
    async fn sign_agreement(
        &self,
        request: Request<proto::SignAgreementRequest>,
    ) -> Result<Response<proto::SignAgreementResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        if r.company_ids.is_empty() {
            f.violation("company_ids", "at least one infrastructure company signs");
        }
        let company_ids: Vec<uuid::Uuid> = r
            .company_ids
            .iter()
            .enumerate()
            .filter_map(|(i, c)| f.check(&format!("company_ids[{i}]"), fields::uuid(c)))
            .collect();
        let version = f.check("version", Text::parse(&r.version, 64));
        let title = f.check("title", Text::name(&r.title));
        let document_no = f.check("document_no", optional_text(&r.document_no, 100));
        let signed_on = f.check("signed_on", fields::optional_date(&r.signed_on));
        let effective_from = f.check("effective_from", fields::optional_date(&r.effective_from));
        let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
        let levels = service_levels(&mut f, r.service_levels.as_ref());
        f.finish()?;
        take!(
            header,
            authority_id,
            version,
            title,
            document_no,
            signed_on,
            effective_from,
            document_sha256,
            levels
        );
        let occurred_at = header.occurred_at;
        // An empty signed_on is the act's local date; a given one is checked by the domain.
        let signed_on = signed_on.unwrap_or_else(|| local_date(occurred_at));
        let event = AgreementSigned {
            authority_id,
            company_ids,
            version,
            title,
            document_no,
            signed_on,
            effective_from: effective_from.unwrap_or(signed_on),
            document_sha256,
            service_levels: levels,
        };
        let o = self
            .0
            .run::<CoordinationAgreement, _>(Target::New, header, move |agreement_id| {
                AgreementCommand::Sign {
                    agreement_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::SignAgreementResponse {
            outcome: Some(o),
        }))
    }

    async fn amend_agreement(
        &self,
        request: Request<proto::AmendAgreementRequest>,
    ) -> Result<Response<proto::AmendAgreementResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let agreement_id = f.check("agreement_id", fields::uuid(&r.agreement_id));
        let amendment_no = f.check("amendment_no", optional_text(&r.amendment_no, 100));
        let levels = service_levels(&mut f, r.service_levels.as_ref());
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        let document_sha256 = f.check("document_sha256", optional_sha256(&r.document_sha256));
        let reason = f.check("reason", optional_text(&r.reason, 2_000));
        f.finish()?;
        take!(
            header,
            agreement_id,
            amendment_no,
            levels,
            effective_from,
            document_sha256,
            reason
        );
        let occurred_at = header.occurred_at;
        let event = AgreementAmended {
            amendment_no,
            service_levels: levels,
            effective_from,
            document_sha256,
            reason,
        };
        let o = self
            .0
            .run::<CoordinationAgreement, _>(
                Target::Existing(agreement_id),
                header,
                move |agreement_id| AgreementCommand::Amend {
                    agreement_id,
                    occurred_at,
                    event: event.clone(),
                },
            )
            .await?;
        Ok(Response::new(proto::AmendAgreementResponse {
            outcome: Some(o),
        }))
    }

    async fn supersede_agreement(
        &self,
        request: Request<proto::SupersedeAgreementRequest>,
    ) -> Result<Response<proto::SupersedeAgreementResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let agreement_id = f.check("agreement_id", fields::uuid(&r.agreement_id));
        let by = f.check("by", fields::uuid(&r.by));
        let effective_from = f.check("effective_from", fields::date(&r.effective_from));
        f.finish()?;
        take!(header, agreement_id, by, effective_from);
        let occurred_at = header.occurred_at;
        let event = AgreementSuperseded { by, effective_from };
        let o = self
            .0
            .run::<CoordinationAgreement, _>(
                Target::Existing(agreement_id),
                header,
                move |agreement_id| AgreementCommand::Supersede {
                    agreement_id,
                    occurred_at,
                    event: event.clone(),
                },
            )
            .await?;
        Ok(Response::new(proto::SupersedeAgreementResponse {
            outcome: Some(o),
        }))
    }

    async fn get_agreement(
        &self,
        request: Request<proto::GetAgreementRequest>,
    ) -> Result<Response<proto::GetAgreementResponse>, Status> {
        let r = request.into_inner();
        let (id, a, version) = self
            .0
            .get::<CoordinationAgreement>("agreement_id", &r.agreement_id)
            .await?;
        Ok(Response::new(proto::GetAgreementResponse {
            agreement_id: id.to_string(),
            version,
            signed: a.signed.as_ref().map(|s| proto::AgreementSigned {
                authority_id: s.authority_id.to_string(),
                company_ids: s.company_ids.iter().map(ToString::to_string).collect(),
                version: s.version.to_string(),
                title: s.title.to_string(),
                document_no: s.document_no.as_ref().map(ToString::to_string),
                signed_on: s.signed_on.to_string(),
                document_sha256: s.document_sha256.as_str().to_owned(),
                service_levels: Some(service_levels_to_proto(&s.service_levels)),
                effective_from: s.effective_from.to_string(),
            }),
            service_levels: a
                .service_levels
                .iter()
                .map(|(from, levels)| proto::ServiceLevelsPeriod {
                    effective_from: from.to_string(),
                    service_levels: Some(service_levels_to_proto(levels)),
                })
                .collect(),
            amendments: a.amendments,
            superseded: a.superseded.as_ref().map(|s| proto::AgreementSuperseded {
                by: s.by.to_string(),
                effective_from: s.effective_from.to_string(),
            }),
        }))
    }
}

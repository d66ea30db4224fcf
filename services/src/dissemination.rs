//! The dissemination service: legal trainings held and guidance documents issued by an authority,
//! one record per act.

use kcn_domain::dissemination::{Dissemination, DisseminationCommand};
use kcn_domain::values::{Sha256Hex, Text};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields};
use crate::proto::{self, dissemination_service_server::DisseminationService};
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Disseminations(pub Ledger);

/// Parses the parks an act is addressed to, naming each malformed id by its index.
fn park_ids(f: &mut Fields, raw: &[String]) -> Vec<Uuid> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, p)| f.check(&format!("park_ids[{i}]"), fields::uuid(p)))
        .collect()
}

#[tonic::async_trait]
impl DisseminationService for Disseminations {
    async fn record_legal_training(
        &self,
        request: Request<proto::RecordLegalTrainingRequest>,
    ) -> Result<Response<proto::RecordLegalTrainingResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let topic = f.check("topic", Text::name(&r.topic));
        let held_on = f.check("held_on", fields::optional_date(&r.held_on));
        let audience = f.check("audience", Text::parse(&r.audience, 1_000));
        let parks = park_ids(&mut f, &r.park_ids);
        f.finish()?;
        take!(header, authority_id, topic, held_on, audience);
        let (occurred_at, attendee_count) = (header.occurred_at, r.attendee_count);
        let o = self
            .0
            .run::<Dissemination, _>(Target::New, header, move |dissemination_id| {
                DisseminationCommand::HoldTraining {
                    dissemination_id,
                    occurred_at,
                    authority_id,
                    topic: topic.clone(),
                    held_on,
                    audience: audience.clone(),
                    attendee_count,
                    park_ids: parks.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::RecordLegalTrainingResponse {
            outcome: Some(o),
        }))
    }

    async fn issue_guidance(
        &self,
        request: Request<proto::IssueGuidanceRequest>,
    ) -> Result<Response<proto::IssueGuidanceResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let doc_no = f.check("doc_no", Text::parse(&r.doc_no, 100));
        let title = f.check("title", Text::name(&r.title));
        let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
        let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
        let parks = park_ids(&mut f, &r.park_ids);
        f.finish()?;
        take!(
            header,
            authority_id,
            doc_no,
            title,
            document_sha256,
            issued_on
        );
        let occurred_at = header.occurred_at;
        let o = self
            .0
            .run::<Dissemination, _>(Target::New, header, move |dissemination_id| {
                DisseminationCommand::IssueGuidance {
                    dissemination_id,
                    occurred_at,
                    authority_id,
                    doc_no: doc_no.clone(),
                    title: title.clone(),
                    document_sha256: document_sha256.clone(),
                    issued_on,
                    park_ids: parks.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::IssueGuidanceResponse {
            outcome: Some(o),
        }))
    }

    async fn get_dissemination(
        &self,
        request: Request<proto::GetDisseminationRequest>,
    ) -> Result<Response<proto::GetDisseminationResponse>, Status> {
        let r = request.into_inner();
        let (id, d, version) = self
            .0
            .get::<Dissemination>("dissemination_id", &r.dissemination_id)
            .await?;
        let ids = |ids: &[Uuid]| ids.iter().map(ToString::to_string).collect();
        Ok(Response::new(proto::GetDisseminationResponse {
            dissemination_id: id.to_string(),
            version,
            training: d.training.as_ref().map(|t| proto::LegalTrainingHeld {
                authority_id: t.authority_id.to_string(),
                topic: t.topic.to_string(),
                held_on: t.held_on.to_string(),
                audience: t.audience.to_string(),
                attendee_count: t.attendee_count,
                park_ids: ids(&t.park_ids),
            }),
            guidance: d.guidance.as_ref().map(|g| proto::GuidanceIssued {
                authority_id: g.authority_id.to_string(),
                doc_no: g.doc_no.to_string(),
                title: g.title.to_string(),
                document_sha256: g.document_sha256.as_str().to_owned(),
                issued_on: g.issued_on.to_string(),
                park_ids: ids(&g.park_ids),
            }),
        }))
    }
}

//! The information-exchange service: requests between the Board and the companies, their answers,
//! clarifications, closing and withdrawal.

use kcn_domain::information_exchange::{
    Attachment, ClarificationRequested, ExchangeClosed, ExchangeCommand, ExchangeStatus,
    ExchangeWithdrawn, InformationExchange, InformationProvided, InformationRequested,
};
use kcn_domain::values::{Sha256Hex, Text};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};

use crate::fields::{self, Fields, optional_text, organisation, organisation_to_proto};
use crate::proto::{self, information_exchange_service_server::InformationExchangeService};
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Exchanges(pub Ledger);

#[tonic::async_trait]
impl InformationExchangeService for Exchanges {
    async fn request_information(
        &self,
        request: Request<proto::RequestInformationRequest>,
    ) -> Result<Response<proto::RequestInformationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let from = organisation(&mut f, "from", r.from.as_ref());
        let to = organisation(&mut f, "to", r.to.as_ref());
        let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
        let subject = f.check("subject", Text::name(&r.subject));
        let body = f.check("body", Text::body(&r.body));
        let due_at = f.check("due_at", fields::optional_instant(r.due_at.as_ref()));
        f.finish()?;
        take!(header, from, to, park_id, subject, body, due_at);
        let occurred_at = header.occurred_at;
        let event = InformationRequested {
            from,
            to,
            park_id,
            subject,
            body,
            due_at,
        };
        let o = self
            .0
            .run::<InformationExchange, _>(Target::New, header, move |exchange_id| {
                ExchangeCommand::Request {
                    exchange_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::RequestInformationResponse {
            outcome: Some(o),
        }))
    }

    async fn provide_information(
        &self,
        request: Request<proto::ProvideInformationRequest>,
    ) -> Result<Response<proto::ProvideInformationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "exchange_id", r.header.as_ref(), &r.exchange_id);
        let body = f.check("body", Text::body(&r.body));
        if r.attachments.len() > 100 {
            f.violation("attachments", "at most 100 attachments");
        }
        let attachments: Vec<Option<Attachment>> = r
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
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
        take!(header, id, body);
        let attachments: Vec<Attachment> = attachments.into_iter().flatten().collect();
        let occurred_at = header.occurred_at;
        let event = InformationProvided { body, attachments };
        let o = self
            .0
            .run::<InformationExchange, _>(Target::Existing(id), header, move |exchange_id| {
                ExchangeCommand::Provide {
                    exchange_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ProvideInformationResponse {
            outcome: Some(o),
        }))
    }

    async fn request_clarification(
        &self,
        request: Request<proto::RequestClarificationRequest>,
    ) -> Result<Response<proto::RequestClarificationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "exchange_id", r.header.as_ref(), &r.exchange_id);
        let question = f.check("question", Text::body(&r.question));
        f.finish()?;
        take!(header, id, question);
        let occurred_at = header.occurred_at;
        let event = ClarificationRequested { question };
        let o = self
            .0
            .run::<InformationExchange, _>(Target::Existing(id), header, move |exchange_id| {
                ExchangeCommand::RequestClarification {
                    exchange_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::RequestClarificationResponse {
            outcome: Some(o),
        }))
    }

    async fn close_exchange(
        &self,
        request: Request<proto::CloseExchangeRequest>,
    ) -> Result<Response<proto::CloseExchangeResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "exchange_id", r.header.as_ref(), &r.exchange_id);
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, id, note);
        let occurred_at = header.occurred_at;
        let event = ExchangeClosed { note };
        let o = self
            .0
            .run::<InformationExchange, _>(Target::Existing(id), header, move |exchange_id| {
                ExchangeCommand::Close {
                    exchange_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::CloseExchangeResponse {
            outcome: Some(o),
        }))
    }

    async fn withdraw_exchange(
        &self,
        request: Request<proto::WithdrawExchangeRequest>,
    ) -> Result<Response<proto::WithdrawExchangeResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "exchange_id", r.header.as_ref(), &r.exchange_id);
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        f.finish()?;
        take!(header, id, reason);
        let occurred_at = header.occurred_at;
        let event = ExchangeWithdrawn { reason };
        let o = self
            .0
            .run::<InformationExchange, _>(Target::Existing(id), header, move |exchange_id| {
                ExchangeCommand::Withdraw {
                    exchange_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::WithdrawExchangeResponse {
            outcome: Some(o),
        }))
    }

    async fn get_exchange(
        &self,
        request: Request<proto::GetExchangeRequest>,
    ) -> Result<Response<proto::GetExchangeResponse>, Status> {
        let r = request.into_inner();
        let (id, x, version) = self
            .0
            .get::<InformationExchange>("exchange_id", &r.exchange_id)
            .await?;
        let status = match x.status {
            ExchangeStatus::NotRequested => proto::ExchangeStatus::Unspecified,
            ExchangeStatus::Open => proto::ExchangeStatus::Open,
            ExchangeStatus::Closed => proto::ExchangeStatus::Closed,
            ExchangeStatus::Withdrawn => proto::ExchangeStatus::Withdrawn,
        };
        Ok(Response::new(proto::GetExchangeResponse {
            exchange_id: id.to_string(),
            version,
            status: status as i32,
            request: x.request.as_ref().map(|q| proto::InformationRequested {
                from: Some(organisation_to_proto(&q.from)),
                to: Some(organisation_to_proto(&q.to)),
                park_id: q.park_id.map(|p| p.to_string()),
                subject: q.subject.to_string(),
                body: q.body.to_string(),
                due_at: q.due_at.map(fields::timestamp),
            }),
            requested_at: x.requested_at.map(fields::timestamp),
            first_answer_at: x.first_answer_at.map(fields::timestamp),
            answers: x.answers,
            clarifications: x.clarifications,
        }))
    }
}

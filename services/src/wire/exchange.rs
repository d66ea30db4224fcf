//! The information-exchange service's conversions: a request, its answers and clarifications,
//! closing and withdrawal, and the exchange as `GetExchangeResponse`.

use kcn_domain::information_exchange::{
    ClarificationRequested, ExchangeClosed, ExchangeCommand, ExchangeStatus, ExchangeWithdrawn,
    InformationExchange, InformationProvided, InformationRequested,
};
use kcn_domain::values::{Text, max_chars};
use uuid::Uuid;

use super::{Command, attachments, organisation, organisation_to_proto};
use crate::fields::{self, Fields, optional_text};
use crate::proto;

type Cmd = Command<InformationExchange>;

/// The exchange a step addresses.
fn exchange_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("exchange_id", fields::uuid(raw))
}

pub fn request(r: proto::RequestInformationRequest, f: &mut Fields) -> Option<Cmd> {
    let from = organisation(f, "from", r.from.as_ref());
    let to = organisation(f, "to", r.to.as_ref());
    let park_id = f.check("park_id", fields::optional_uuid(&r.park_id));
    let subject = f.check("subject", Text::name(&r.subject));
    let body = f.check("body", Text::body(&r.body));
    let due_at = f.check("due_at", fields::optional_instant(r.due_at.as_ref()));
    let event = InformationRequested {
        from: from?,
        to: to?,
        park_id: park_id?,
        subject: subject?,
        body: body?,
        due_at: due_at?,
    };
    Some(Cmd::new(move |exchange_id, occurred_at| {
        ExchangeCommand::Request {
            exchange_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn provide(r: proto::ProvideInformationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = exchange_id(f, &r.exchange_id);
    let body = f.check("body", Text::body(&r.body));
    let attachments = attachments(f, &r.attachments);
    let event = InformationProvided {
        body: body?,
        attachments: attachments?,
    };
    Some(Cmd::on(id?, move |exchange_id, occurred_at| {
        ExchangeCommand::Provide {
            exchange_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn request_clarification(r: proto::RequestClarificationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = exchange_id(f, &r.exchange_id);
    let question = f.check("question", Text::body(&r.question));
    let event = ClarificationRequested {
        question: question?,
    };
    Some(Cmd::on(id?, move |exchange_id, occurred_at| {
        ExchangeCommand::RequestClarification {
            exchange_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn close(r: proto::CloseExchangeRequest, f: &mut Fields) -> Option<Cmd> {
    let id = exchange_id(f, &r.exchange_id);
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let event = ExchangeClosed { note: note? };
    Some(Cmd::on(id?, move |exchange_id, occurred_at| {
        ExchangeCommand::Close {
            exchange_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn withdraw(r: proto::WithdrawExchangeRequest, f: &mut Fields) -> Option<Cmd> {
    let id = exchange_id(f, &r.exchange_id);
    let reason = f.check("reason", Text::note(&r.reason));
    let event = ExchangeWithdrawn { reason: reason? };
    Some(Cmd::on(id?, move |exchange_id, occurred_at| {
        ExchangeCommand::Withdraw {
            exchange_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

fn status(s: ExchangeStatus) -> proto::ExchangeStatus {
    use proto::ExchangeStatus as P;
    match s {
        ExchangeStatus::NotRequested => P::Unspecified,
        ExchangeStatus::Open => P::Open,
        ExchangeStatus::Closed => P::Closed,
        ExchangeStatus::Withdrawn => P::Withdrawn,
    }
}

/// The exchange as the wire's answer.
pub fn exchange(id: Uuid, x: &InformationExchange, version: u64) -> proto::GetExchangeResponse {
    proto::GetExchangeResponse {
        exchange_id: id.to_string(),
        version,
        status: status(x.status) as i32,
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
    }
}

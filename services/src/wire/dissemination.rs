//! The dissemination service's conversions: a training held, a guidance document issued, and the
//! record as `GetDisseminationResponse`.

use kcn_domain::dissemination::{Dissemination, DisseminationCommand};
use kcn_domain::values::{AttendeeCount, Sha256Hex, Text, max_chars, max_items};
use uuid::Uuid;

use super::{Command, uuid_strings, uuids};
use crate::fields::{self, Fields};
use crate::proto;

type Cmd = Command<Dissemination>;

/// The parks an act is addressed to (none: every park of the authority).
fn park_ids(f: &mut Fields, raw: &[String]) -> Option<Vec<Uuid>> {
    uuids(f, "park_ids", raw, (0, max_items::PARKS))
}

pub fn record_training(r: proto::RecordLegalTrainingRequest, f: &mut Fields) -> Option<Cmd> {
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let topic = f.check("topic", Text::name(&r.topic));
    let held_on = f.check("held_on", fields::optional_date(&r.held_on));
    let audience = f.check("audience", Text::parse(&r.audience, max_chars::AUDIENCE));
    let attendee_count = f.check("attendee_count", AttendeeCount::parse(r.attendee_count));
    let park_ids = park_ids(f, &r.park_ids);
    let (authority_id, topic, held_on) = (authority_id?, topic?, held_on?);
    let (audience, attendee_count, park_ids) = (audience?, attendee_count?.get(), park_ids?);
    Some(Cmd::new(move |dissemination_id, occurred_at| {
        DisseminationCommand::HoldTraining {
            dissemination_id,
            occurred_at,
            authority_id,
            topic: topic.clone(),
            held_on,
            audience: audience.clone(),
            attendee_count,
            park_ids: park_ids.clone(),
        }
    }))
}

pub fn issue_guidance(r: proto::IssueGuidanceRequest, f: &mut Fields) -> Option<Cmd> {
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let doc_no = f.check("doc_no", Text::number(&r.doc_no));
    let title = f.check("title", Text::name(&r.title));
    let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
    let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
    let park_ids = park_ids(f, &r.park_ids);
    let (authority_id, doc_no, title) = (authority_id?, doc_no?, title?);
    let (document_sha256, issued_on, park_ids) = (document_sha256?, issued_on?, park_ids?);
    Some(Cmd::new(move |dissemination_id, occurred_at| {
        DisseminationCommand::IssueGuidance {
            dissemination_id,
            occurred_at,
            authority_id,
            doc_no: doc_no.clone(),
            title: title.clone(),
            document_sha256: document_sha256.clone(),
            issued_on,
            park_ids: park_ids.clone(),
        }
    }))
}

/// The record as the wire's answer.
pub fn dissemination(id: Uuid, d: &Dissemination, version: u64) -> proto::GetDisseminationResponse {
    proto::GetDisseminationResponse {
        dissemination_id: id.to_string(),
        version,
        training: d.training.as_ref().map(|t| proto::LegalTrainingHeld {
            authority_id: t.authority_id.to_string(),
            topic: t.topic.to_string(),
            held_on: t.held_on.to_string(),
            audience: t.audience.to_string(),
            attendee_count: t.attendee_count,
            park_ids: uuid_strings(&t.park_ids),
        }),
        guidance: d.guidance.as_ref().map(|g| proto::GuidanceIssued {
            authority_id: g.authority_id.to_string(),
            doc_no: g.doc_no.to_string(),
            title: g.title.to_string(),
            document_sha256: g.document_sha256.as_str().to_owned(),
            issued_on: g.issued_on.to_string(),
            park_ids: uuid_strings(&g.park_ids),
        }),
    }
}

//! The agreement service's conversions: signing, amending and superseding a coordination
//! regulation, its service levels, and the agreement as `GetAgreementResponse`.

use kcn_domain::agreement::{
    AgreementAmended, AgreementCommand, AgreementSigned, AgreementSuperseded,
    CoordinationAgreement, ServiceLevels,
};
use kcn_domain::time::local_date;
use kcn_domain::values::{
    DayOfMonth, NotificationHours, ServiceDays, Sha256Hex, Text, max_chars, max_items,
};
use uuid::Uuid;

use super::{Command, uuid_strings, uuids};
use crate::fields::{self, Fields, optional, optional_text};
use crate::proto;

type Cmd = Command<CoordinationAgreement>;

/// The service levels of a request, each within its range.
fn service_levels(f: &mut Fields, raw: Option<&proto::ServiceLevels>) -> Option<ServiceLevels> {
    let what = "at least the hours to notify an incident and the days to answer a request";
    f.required("service_levels", raw, what, |f, s| {
        let field = |name: &str| format!("service_levels.{name}");
        let days = |f: &mut Fields, name: &str, v: Option<u32>| {
            f.check(&field(name), v.map(ServiceDays::parse).transpose())
        };
        let hours = f.check(
            &field("incident_notification_hours"),
            NotificationHours::parse(s.incident_notification_hours),
        );
        let answer = f.check(
            &field("information_answer_days"),
            ServiceDays::parse(s.information_answer_days),
        );
        let infrastructure = days(
            f,
            "infrastructure_information_days",
            s.infrastructure_information_days,
        );
        let consultation = days(f, "consultation_answer_days", s.consultation_answer_days);
        let due_day = f.check(
            &field("quarterly_report_due_day"),
            s.quarterly_report_due_day
                .map(DayOfMonth::parse)
                .transpose(),
        );
        Some(ServiceLevels {
            incident_notification_hours: hours?.get(),
            information_answer_days: answer?.get(),
            infrastructure_information_days: infrastructure?.map(ServiceDays::get),
            consultation_answer_days: consultation?.map(ServiceDays::get),
            quarterly_report_due_day: due_day?.map(DayOfMonth::get),
        })
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

pub fn sign(r: proto::SignAgreementRequest, f: &mut Fields) -> Option<Cmd> {
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let company_ids = uuids(
        f,
        "company_ids",
        &r.company_ids,
        (1, max_items::AGREEMENT_COMPANIES),
    );
    let version = f.check("version", Text::code(&r.version));
    let title = f.check("title", Text::name(&r.title));
    let document_no = f.check(
        "document_no",
        optional_text(&r.document_no, max_chars::NUMBER),
    );
    let signed_on = f.check("signed_on", fields::optional_date(&r.signed_on));
    let effective_from = f.check("effective_from", fields::optional_date(&r.effective_from));
    let document_sha256 = f.check("document_sha256", Sha256Hex::parse(&r.document_sha256));
    let levels = service_levels(f, r.service_levels.as_ref());
    let (authority_id, company_ids, version, title) =
        (authority_id?, company_ids?, version?, title?);
    let (document_no, signed_on, effective_from) = (document_no?, signed_on?, effective_from?);
    let (document_sha256, levels) = (document_sha256?, levels?);
    Some(Cmd::new(move |agreement_id, occurred_at| {
        // An empty signed_on is the act's local date; a given one is checked by the domain.
        let signed_on = signed_on.unwrap_or_else(|| local_date(occurred_at));
        AgreementCommand::Sign {
            agreement_id,
            occurred_at,
            event: AgreementSigned {
                authority_id,
                company_ids: company_ids.clone(),
                version: version.clone(),
                title: title.clone(),
                document_no: document_no.clone(),
                signed_on,
                effective_from: effective_from.unwrap_or(signed_on),
                document_sha256: document_sha256.clone(),
                service_levels: levels.clone(),
            },
        }
    }))
}

pub fn amend(r: proto::AmendAgreementRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("agreement_id", fields::uuid(&r.agreement_id));
    let amendment_no = f.check(
        "amendment_no",
        optional_text(&r.amendment_no, max_chars::NUMBER),
    );
    let levels = service_levels(f, r.service_levels.as_ref());
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let document_sha256 = f.check(
        "document_sha256",
        optional(&r.document_sha256, Sha256Hex::parse),
    );
    let reason = f.check("reason", optional_text(&r.reason, max_chars::NOTE));
    let event = AgreementAmended {
        amendment_no: amendment_no?,
        service_levels: levels?,
        effective_from: effective_from?,
        document_sha256: document_sha256?,
        reason: reason?,
    };
    Some(Cmd::on(id?, move |agreement_id, occurred_at| {
        AgreementCommand::Amend {
            agreement_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn supersede(r: proto::SupersedeAgreementRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("agreement_id", fields::uuid(&r.agreement_id));
    let by = f.check("by", fields::uuid(&r.by));
    let effective_from = f.check("effective_from", fields::date(&r.effective_from));
    let event = AgreementSuperseded {
        by: by?,
        effective_from: effective_from?,
    };
    Some(Cmd::on(id?, move |agreement_id, occurred_at| {
        AgreementCommand::Supersede {
            agreement_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

/// The agreement as the wire's answer.
pub fn agreement(id: Uuid, a: &CoordinationAgreement, version: u64) -> proto::GetAgreementResponse {
    proto::GetAgreementResponse {
        agreement_id: id.to_string(),
        version,
        signed: a.signed.as_ref().map(|s| proto::AgreementSigned {
            authority_id: s.authority_id.to_string(),
            company_ids: uuid_strings(&s.company_ids),
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
    }
}

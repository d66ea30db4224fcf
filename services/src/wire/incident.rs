//! The incident service's conversions: one function per command request, and the incident as
//! `GetIncidentResponse`.

use kcn_domain::incident::{
    Incident, IncidentClassified, IncidentCommand, IncidentContained, IncidentEscalated,
    IncidentKind, IncidentLevel, IncidentReported, IncidentResolved, IncidentReviewed,
    IncidentStatus, NotificationChannel, ResponseActionTaken,
};
use kcn_domain::values::{Text, max_chars};
use uuid::Uuid;

use super::{Command, organisation, organisation_to_proto};
use crate::fields::{self, Fields, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    kind,
    kind_to_proto,
    proto::IncidentKind,
    IncidentKind,
    "INCIDENT_KIND",
    [Overflow, Spill, Fire, Emission, Other]
);

wire_enum!(
    level,
    level_to_proto,
    proto::IncidentLevel,
    IncidentLevel,
    "INCIDENT_LEVEL",
    [Facility, Commune, District, Provincial, National]
);

wire_enum!(
    channel,
    channel_to_proto,
    proto::NotificationChannel,
    NotificationChannel,
    "NOTIFICATION_CHANNEL",
    [
        Phone,
        Email,
        OfficialLetter,
        ElectronicSystem,
        InPerson,
        Other
    ]
);

type Cmd = Command<Incident>;

/// The incident a step addresses.
fn incident_id(f: &mut Fields, raw: &str) -> Option<Uuid> {
    f.check("incident_id", fields::uuid(raw))
}

pub fn report(r: proto::ReportIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let tenant_id = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
    let kind = f.check("kind", kind(r.kind));
    let detected_at = f.instant(
        "detected_at",
        r.detected_at.as_ref(),
        "when the incident was detected",
    );
    let location = f.check("location", Text::name(&r.location));
    let description = f.check("description", Text::body(&r.description));
    let reported_by = organisation(f, "reported_by", r.reported_by.as_ref());
    let event = IncidentReported {
        park_id: park_id?,
        tenant_id: tenant_id?,
        kind: kind?,
        detected_at: detected_at?,
        location: location?,
        description: description?,
        reported_by: reported_by?,
    };
    Some(Cmd::new(move |incident_id, occurred_at| {
        IncidentCommand::Report {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn classify(r: proto::ClassifyIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let level = f.check("level", level(r.level));
    let scheme_version = f.check("scheme_version", Text::code(&r.scheme_version));
    let rationale = f.check("rationale", optional_text(&r.rationale, max_chars::NOTE));
    let event = IncidentClassified {
        level: level?,
        scheme_version: scheme_version?,
        rationale: rationale?,
    };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Classify {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn notify(r: proto::SendIncidentNotificationRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let sender = super::organisation(f, "sender", r.sender.as_ref());
    let recipient_authority_id = f.check(
        "recipient_authority_id",
        fields::uuid(&r.recipient_authority_id),
    );
    let recipient = f.check("recipient", optional_text(&r.recipient, max_chars::NAME));
    let channel = f.check("channel", channel(r.channel));
    let sent_at = f.check("sent_at", fields::optional_instant(r.sent_at.as_ref()));
    let message = f.check("message", optional_text(&r.message, max_chars::NOTE));
    let (sender, recipient_authority_id, recipient, channel, sent_at, message) = (
        sender?,
        recipient_authority_id?,
        recipient?,
        channel?,
        sent_at?,
        message?,
    );
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Notify {
            incident_id,
            occurred_at,
            sender,
            recipient_authority_id,
            recipient: recipient.clone(),
            channel,
            sent_at,
            message: message.clone(),
        }
    }))
}

pub fn take_action(r: proto::TakeResponseActionRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let action = f.check("action", Text::note(&r.action));
    let by = f.check("by", Text::name(&r.by));
    let event = ResponseActionTaken {
        action: action?,
        by: by?,
    };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::TakeAction {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn escalate(r: proto::EscalateIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let reason = f.check("reason", Text::note(&r.reason));
    let event = IncidentEscalated {
        authority_id: authority_id?,
        reason: reason?,
    };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Escalate {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn contain(r: proto::ContainIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let event = IncidentContained { note: note? };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Contain {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn resolve(r: proto::ResolveIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let summary = f.check("summary", Text::body(&r.summary));
    let event = IncidentResolved { summary: summary? };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Resolve {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn review(r: proto::ReviewIncidentRequest, f: &mut Fields) -> Option<Cmd> {
    let id = incident_id(f, &r.incident_id);
    let lessons = f.check("lessons", Text::body(&r.lessons));
    let event = IncidentReviewed { lessons: lessons? };
    Some(Cmd::on(id?, move |incident_id, occurred_at| {
        IncidentCommand::Review {
            incident_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

fn status(s: IncidentStatus) -> proto::IncidentStatus {
    use proto::IncidentStatus as P;
    match s {
        IncidentStatus::NotReported => P::Unspecified,
        IncidentStatus::Reported => P::Reported,
        IncidentStatus::Contained => P::Contained,
        IncidentStatus::Resolved => P::Resolved,
        IncidentStatus::Reviewed => P::Reviewed,
    }
}

/// The incident as the wire's answer.
pub fn incident(id: Uuid, x: &Incident, version: u64) -> proto::GetIncidentResponse {
    let ts = fields::timestamp;
    proto::GetIncidentResponse {
        incident_id: id.to_string(),
        version,
        status: status(x.status()) as i32,
        report: x.reported.as_ref().map(|e| proto::IncidentReported {
            park_id: e.park_id.to_string(),
            tenant_id: e.tenant_id.map(|t| t.to_string()),
            kind: kind_to_proto(e.kind),
            detected_at: Some(ts(e.detected_at)),
            location: e.location.to_string(),
            description: e.description.to_string(),
            reported_by: Some(organisation_to_proto(&e.reported_by)),
        }),
        reported_at: x.reported_at.map(ts),
        classification: x
            .classification
            .as_ref()
            .map(|c| proto::IncidentClassified {
                level: level_to_proto(c.level),
                scheme_version: c.scheme_version.to_string(),
                rationale: c.rationale.as_ref().map(Text::to_string),
            }),
        classified_at: x.classified_at.map(ts),
        notifications: x
            .notifications
            .iter()
            .map(|n| proto::IncidentNotificationSent {
                recipient: n.recipient.as_ref().map(Text::to_string),
                sender: n.sender.as_ref().map(super::organisation_to_proto),
                recipient_authority_id: n.recipient_authority_id.map(|a| a.to_string()),
                channel: channel_to_proto(n.channel),
                sent_at: Some(ts(n.sent_at)),
                message: n.message.as_ref().map(Text::to_string),
            })
            .collect(),
        first_notified_at: x.first_notified_at().map(ts),
        actions: x
            .actions
            .iter()
            .map(|a| proto::ResponseActionTaken {
                action: a.action.to_string(),
                by: a.by.to_string(),
            })
            .collect(),
        escalations: x
            .escalations
            .iter()
            .map(|e| proto::IncidentEscalated {
                authority_id: e.authority_id.to_string(),
                reason: e.reason.to_string(),
            })
            .collect(),
        contained_at: x.contained_at.map(ts),
        resolution: x.resolution.as_ref().map(|e| proto::IncidentResolved {
            summary: e.summary.to_string(),
        }),
        resolved_at: x.resolved_at.map(ts),
        review: x.review.as_ref().map(|e| proto::IncidentReviewed {
            lessons: e.lessons.to_string(),
        }),
        reviewed_at: x.reviewed_at.map(ts),
    }
}

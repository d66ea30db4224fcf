//! The incident service: environmental incidents reported, classified, notified, responded to,
//! escalated, contained, resolved and reviewed.

use kcn_domain::incident::{
    Incident, IncidentClassified, IncidentCommand, IncidentContained, IncidentEscalated,
    IncidentKind, IncidentLevel, IncidentReported, IncidentResolved, IncidentReviewed,
    NotificationChannel, ResponseActionTaken,
};
use kcn_domain::values::Text;
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields, optional_text, organisation, organisation_to_proto};
use crate::proto::{self, incident_service_server::IncidentService};
use crate::wire_enum;
use crate::{Header, Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Incidents(pub Ledger);

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

impl Incidents {
    /// Runs a step on an existing incident.
    async fn existing<F>(
        &self,
        id: Uuid,
        header: Header,
        build: F,
    ) -> Result<proto::CommandOutcome, Status>
    where
        F: Fn(Uuid) -> IncidentCommand + Send + Sync + 'static,
    {
        self.0
            .run::<Incident, _>(Target::Existing(id), header, build)
            .await
    }
}

#[tonic::async_trait]
impl IncidentService for Incidents {
    async fn report_incident(
        &self,
        request: Request<proto::ReportIncidentRequest>,
    ) -> Result<Response<proto::ReportIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let tenant_id = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
        let kind = f.check("kind", kind(r.kind));
        let detected_at = match &r.detected_at {
            None => {
                f.violation("detected_at", "is required: when the incident was detected");
                None
            }
            Some(ts) => f.check("detected_at", fields::instant(ts)),
        };
        let location = f.check("location", Text::name(&r.location));
        let description = f.check("description", Text::body(&r.description));
        let reported_by = organisation(&mut f, "reported_by", r.reported_by.as_ref());
        f.finish()?;
        take!(
            header,
            park_id,
            tenant_id,
            kind,
            detected_at,
            location,
            description,
            reported_by
        );
        let occurred_at = header.occurred_at;
        let event = IncidentReported {
            park_id,
            tenant_id,
            kind,
            detected_at,
            location,
            description,
            reported_by,
        };
        let o = self
            .0
            .run::<Incident, _>(Target::New, header, move |incident_id| {
                IncidentCommand::Report {
                    incident_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ReportIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn classify_incident(
        &self,
        request: Request<proto::ClassifyIncidentRequest>,
    ) -> Result<Response<proto::ClassifyIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let level = f.check("level", level(r.level));
        let scheme_version = f.check("scheme_version", Text::parse(&r.scheme_version, 64));
        let rationale = f.check("rationale", optional_text(&r.rationale, 2_000));
        f.finish()?;
        take!(header, id, level, scheme_version, rationale);
        let occurred_at = header.occurred_at;
        let event = IncidentClassified {
            level,
            scheme_version,
            rationale,
        };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Classify {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::ClassifyIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn send_incident_notification(
        &self,
        request: Request<proto::SendIncidentNotificationRequest>,
    ) -> Result<Response<proto::SendIncidentNotificationResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let recipient = f.check("recipient", Text::name(&r.recipient));
        let channel = f.check("channel", channel(r.channel));
        let sent_at = f.check("sent_at", fields::optional_instant(r.sent_at.as_ref()));
        let message = f.check("message", optional_text(&r.message, 2_000));
        f.finish()?;
        take!(header, id, recipient, channel, sent_at, message);
        let occurred_at = header.occurred_at;
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Notify {
                incident_id,
                occurred_at,
                recipient: recipient.clone(),
                channel,
                sent_at,
                message: message.clone(),
            })
            .await?;
        Ok(Response::new(proto::SendIncidentNotificationResponse {
            outcome: Some(o),
        }))
    }

    async fn take_response_action(
        &self,
        request: Request<proto::TakeResponseActionRequest>,
    ) -> Result<Response<proto::TakeResponseActionResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let action = f.check("action", Text::parse(&r.action, 2_000));
        let by = f.check("by", Text::name(&r.by));
        f.finish()?;
        take!(header, id, action, by);
        let occurred_at = header.occurred_at;
        let event = ResponseActionTaken { action, by };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::TakeAction {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::TakeResponseActionResponse {
            outcome: Some(o),
        }))
    }

    async fn escalate_incident(
        &self,
        request: Request<proto::EscalateIncidentRequest>,
    ) -> Result<Response<proto::EscalateIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let reason = f.check("reason", Text::parse(&r.reason, 2_000));
        f.finish()?;
        take!(header, id, authority_id, reason);
        let occurred_at = header.occurred_at;
        let event = IncidentEscalated {
            authority_id,
            reason,
        };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Escalate {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::EscalateIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn contain_incident(
        &self,
        request: Request<proto::ContainIncidentRequest>,
    ) -> Result<Response<proto::ContainIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, id, note);
        let occurred_at = header.occurred_at;
        let event = IncidentContained { note };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Contain {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::ContainIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn resolve_incident(
        &self,
        request: Request<proto::ResolveIncidentRequest>,
    ) -> Result<Response<proto::ResolveIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let summary = f.check("summary", Text::body(&r.summary));
        f.finish()?;
        take!(header, id, summary);
        let occurred_at = header.occurred_at;
        let event = IncidentResolved { summary };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Resolve {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::ResolveIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn review_incident(
        &self,
        request: Request<proto::ReviewIncidentRequest>,
    ) -> Result<Response<proto::ReviewIncidentResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "incident_id", r.header.as_ref(), &r.incident_id);
        let lessons = f.check("lessons", Text::body(&r.lessons));
        f.finish()?;
        take!(header, id, lessons);
        let occurred_at = header.occurred_at;
        let event = IncidentReviewed { lessons };
        let o = self
            .existing(id, header, move |incident_id| IncidentCommand::Review {
                incident_id,
                occurred_at,
                event: event.clone(),
            })
            .await?;
        Ok(Response::new(proto::ReviewIncidentResponse {
            outcome: Some(o),
        }))
    }

    async fn get_incident(
        &self,
        request: Request<proto::GetIncidentRequest>,
    ) -> Result<Response<proto::GetIncidentResponse>, Status> {
        let r = request.into_inner();
        let (id, x, version) = self
            .0
            .get::<Incident>("incident_id", &r.incident_id)
            .await?;
        use proto::IncidentStatus as S;
        let status = if x.review.is_some() {
            S::Reviewed
        } else if x.resolution.is_some() {
            S::Resolved
        } else if x.contained_at.is_some() {
            S::Contained
        } else if x.reported.is_some() {
            S::Reported
        } else {
            S::Unspecified
        };
        Ok(Response::new(proto::GetIncidentResponse {
            incident_id: id.to_string(),
            version,
            status: status as i32,
            report: x.reported.as_ref().map(|e| proto::IncidentReported {
                park_id: e.park_id.to_string(),
                tenant_id: e.tenant_id.map(|t| t.to_string()),
                kind: kind_to_proto(e.kind) as i32,
                detected_at: Some(fields::timestamp(e.detected_at)),
                location: e.location.to_string(),
                description: e.description.to_string(),
                reported_by: Some(organisation_to_proto(&e.reported_by)),
            }),
            reported_at: x.reported_at.map(fields::timestamp),
            classification: x
                .classification
                .as_ref()
                .map(|c| proto::IncidentClassified {
                    level: level_to_proto(c.level) as i32,
                    scheme_version: c.scheme_version.to_string(),
                    rationale: c.rationale.as_ref().map(Text::to_string),
                }),
            classified_at: x.classified_at.map(fields::timestamp),
            notifications: x
                .notifications
                .iter()
                .map(|n| proto::IncidentNotificationSent {
                    recipient: n.recipient.to_string(),
                    channel: channel_to_proto(n.channel) as i32,
                    sent_at: Some(fields::timestamp(n.sent_at)),
                    message: n.message.as_ref().map(Text::to_string),
                })
                .collect(),
            first_notified_at: x.first_notified_at().map(fields::timestamp),
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
            contained_at: x.contained_at.map(fields::timestamp),
            resolution: x.resolution.as_ref().map(|e| proto::IncidentResolved {
                summary: e.summary.to_string(),
            }),
            resolved_at: x.resolved_at.map(fields::timestamp),
            review: x.review.as_ref().map(|e| proto::IncidentReviewed {
                lessons: e.lessons.to_string(),
            }),
            reviewed_at: x.reviewed_at.map(fields::timestamp),
        }))
    }
}

//! Audit question 5 at the edge: an incident's timeline, with its notification lag judged against the
//! agreement in force at detection, read from the `incidents` read model.

use kcn_domain::AggregateKind;
use kcn_projections::models::incidents::{HoursSource, MilestoneKind};
use tonic::Status;
use uuid::Uuid;

use super::params::{enum_number, rules};
use crate::fields::{self, Fields};
use crate::{Ledger, error, proto, take};

/// `GetIncidentTimeline`: audit question 5.
pub(super) async fn get_incident_timeline(
    ledger: &Ledger,
    r: proto::GetIncidentTimelineRequest,
) -> Result<proto::GetIncidentTimelineResponse, Status> {
    let mut f = Fields::default();
    let id = f.check("incident_id", fields::uuid(&r.incident_id));
    let as_of = f.check(
        "as_of_time",
        fields::optional_instant(r.as_of_time.as_ref()),
    );
    f.finish()?;
    take!(id, as_of);
    let as_of = as_of.unwrap_or_else(|| ledger.clock.now());
    let t = ledger
        .read
        .incidents()
        .timeline(r.min_position, rules(ledger), &id.to_string(), as_of)
        .await
        .map_err(error::projection)?
        .ok_or_else(|| not_found(id))?;
    let n = t.notification;
    let (source, agreement_id, agreement_version, agreement_inherited, not_judged_reason) =
        match n.source {
            HoursSource::Agreement {
                agreement_id,
                version,
                inherited,
            } => (
                proto::ServiceLevelSource::Agreement,
                agreement_id,
                version,
                inherited,
                String::new(),
            ),
            HoursSource::BoardPolicy => (
                proto::ServiceLevelSource::BoardPolicy,
                String::new(),
                String::new(),
                false,
                String::new(),
            ),
            HoursSource::NotJudged { reason } => (
                proto::ServiceLevelSource::NotJudged,
                String::new(),
                String::new(),
                false,
                reason,
            ),
        };
    let milestones = t
        .milestones
        .into_iter()
        .map(|m| proto::IncidentMilestone {
            kind: milestone_kind(m.kind).into(),
            at: Some(fields::timestamp(m.at)),
            seconds_since_detection: m.since_detection.num_seconds(),
            seconds_since_previous: m.since_previous.num_seconds(),
        })
        .collect();
    Ok(proto::GetIncidentTimelineResponse {
        incident_id: t.incident_id,
        park_id: t.park_id,
        tenant_id: t.tenant_id.unwrap_or_default(),
        kind: enum_number(Some(&t.kind), proto::IncidentKind::from_str_name),
        milestones,
        level: enum_number(t.level.as_deref(), proto::IncidentLevel::from_str_name),
        scheme_version: t.scheme_version.unwrap_or_default(),
        notification: Some(proto::IncidentNotificationJudgement {
            detected_on: n.detected_on.to_string(),
            authority_id: n.authority_id.unwrap_or_default(),
            company_id: n.company_id.unwrap_or_default(),
            source: source.into(),
            agreement_id,
            agreement_version,
            agreement_inherited,
            not_judged_reason,
            allowed_hours: n.allowed_hours,
            deadline: n.deadline.map(fields::timestamp),
            notified: n.first_notified_at.is_some(),
            lag_seconds: n.lag.map(|l| l.num_seconds()),
            late: n.late,
            overdue: n.overdue,
            first_recipient: n.first_recipient.unwrap_or_default(),
            first_channel: enum_number(
                n.first_channel.as_deref(),
                proto::NotificationChannel::from_str_name,
            ),
        }),
        notification_count: t.notifications,
        response_action_count: t.actions,
        escalation_count: t.escalations,
        as_of_time: Some(fields::timestamp(as_of)),
    })
}

fn milestone_kind(kind: MilestoneKind) -> proto::IncidentMilestoneKind {
    match kind {
        MilestoneKind::Detection => proto::IncidentMilestoneKind::Detection,
        MilestoneKind::Report => proto::IncidentMilestoneKind::Report,
        MilestoneKind::FirstNotification => proto::IncidentMilestoneKind::FirstNotification,
        MilestoneKind::Classification => proto::IncidentMilestoneKind::Classification,
        MilestoneKind::Containment => proto::IncidentMilestoneKind::Containment,
        MilestoneKind::Resolution => proto::IncidentMilestoneKind::Resolution,
        MilestoneKind::Review => proto::IncidentMilestoneKind::Review,
    }
}

/// An incident the read model does not know (yet: `min_position` waits for a fresh one).
fn not_found(id: Uuid) -> Status {
    error::domain(kcn_domain::DomainError::NotFound {
        kind: AggregateKind::Incident,
        id,
    })
}

//! The audit-query service: the auditors' questions, answered from the log and the read models.

mod alerts;
mod breaches;
mod consultations;
mod exchanges;
mod incidents;
mod inspections;
pub(crate) mod params;
mod procedures;
mod reports;
mod responsibility;

use kcn_domain::AggregateKind;
use kcn_eventstore::history::{self, Known};
use kcn_integrity::leaf::{format_timestamp, parse_timestamp};
use tonic::{Request, Response, Status};

use crate::fields::{self, Fields};
use crate::proto::get_aggregate_history_request::Known as ProtoKnown;
use crate::proto::{self, audit_query_service_server::AuditQueryService};
use crate::{Ledger, error, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct AuditQueries(pub Ledger);

/// What a company officer's question must be narrowed to: every answer is then about records of a
/// park its company runs today, or addressed to its company.
enum Narrowed<'a> {
    /// `park_id`, a park the company runs.
    Park(&'a str),
    /// `company_id`, the company itself.
    Company(&'a str),
    /// A tenant of a park the company runs.
    Tenant(&'a str),
    /// An incident at a park the company runs.
    Incident(&'a str),
}

impl AuditQueries {
    /// Refuses a company officer's question that is not narrowed to its own records
    /// (`PERMISSION_DENIED`, `OUTSIDE_ORGANISATION_SCOPE`); every other caller's passes.
    async fn narrowed<R>(&self, request: &Request<R>, to: Narrowed<'_>) -> Result<(), Status> {
        let caller = crate::caller(request)?;
        let kcn_domain::scope::Scope::Company(company) = caller.scope() else {
            return Ok(());
        };
        let refuse = |what: &str| {
            error::domain(kcn_domain::DomainError::Forbidden {
                rule: "outside_organisation_scope",
                message: format!(
                    "a company officer asks this question of its own records only: {what} \
                     (company {company})"
                ),
            })
        };
        let id =
            |raw: &str, what: &str| uuid::Uuid::parse_str(raw.trim()).map_err(|_| refuse(what));
        match to {
            Narrowed::Park(raw) => {
                let what = "give the park_id of a park your company runs";
                let park = id(raw, what)?;
                if !self.0.company_runs(company, park).await? {
                    return Err(refuse(what));
                }
            }
            Narrowed::Company(raw) => {
                let what = "give your company's company_id";
                if id(raw, what)? != company {
                    return Err(refuse(what));
                }
            }
            Narrowed::Tenant(raw) => {
                let tenant = id(raw, "name a tenant of a park your company runs")?;
                self.record_visible::<kcn_domain::tenant::Tenant>(&caller, tenant)
                    .await?;
            }
            Narrowed::Incident(raw) => {
                let incident = id(raw, "name an incident at a park your company runs")?;
                self.record_visible::<kcn_domain::incident::Incident>(&caller, incident)
                    .await?;
            }
        }
        Ok(())
    }

    /// Refuses a record the caller may not see ([`Ledger::visible`]); one that does not exist
    /// passes (the question then answers it is unknown).
    async fn record_visible<A: kcn_domain::LedgerAggregate>(
        &self,
        caller: &crate::access::Identity,
        id: uuid::Uuid,
    ) -> Result<(), Status> {
        match self.0.store.load::<A>(id).await.map_err(error::store)? {
            Some((record, _)) => self.0.visible(caller, id, &record).await,
            None => Ok(()),
        }
    }
}

fn stored_timestamp(text: &str) -> Option<prost_types::Timestamp> {
    parse_timestamp(text).ok().map(fields::timestamp)
}

#[tonic::async_trait]
impl AuditQueryService for AuditQueries {
    async fn get_tenant_inspection_record(
        &self,
        request: Request<proto::GetTenantInspectionRecordRequest>,
    ) -> Result<Response<proto::GetTenantInspectionRecordResponse>, Status> {
        self.narrowed(&request, Narrowed::Tenant(&request.get_ref().tenant_id))
            .await?;
        inspections::get_tenant_inspection_record(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_repeated_inspections(
        &self,
        request: Request<proto::ListRepeatedInspectionsRequest>,
    ) -> Result<Response<proto::ListRepeatedInspectionsResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        inspections::list_repeated_inspections(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_incident_timeline(
        &self,
        request: Request<proto::GetIncidentTimelineRequest>,
    ) -> Result<Response<proto::GetIncidentTimelineResponse>, Status> {
        self.narrowed(&request, Narrowed::Incident(&request.get_ref().incident_id))
            .await?;
        incidents::get_incident_timeline(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_unfollowed_alerts(
        &self,
        request: Request<proto::ListUnfollowedAlertsRequest>,
    ) -> Result<Response<proto::ListUnfollowedAlertsResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        alerts::list_unfollowed_alerts(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_consultations(
        &self,
        request: Request<proto::ListConsultationsRequest>,
    ) -> Result<Response<proto::ListConsultationsResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        consultations::list(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_late_information_requests(
        &self,
        request: Request<proto::ListLateInformationRequestsRequest>,
    ) -> Result<Response<proto::ListLateInformationRequestsResponse>, Status> {
        self.narrowed(&request, Narrowed::Company(&request.get_ref().company_id))
            .await?;
        exchanges::list(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_park_responsibility(
        &self,
        request: Request<proto::GetParkResponsibilityRequest>,
    ) -> Result<Response<proto::GetParkResponsibilityResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        responsibility::get(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_late_annual_reports(
        &self,
        request: Request<proto::ListLateAnnualReportsRequest>,
    ) -> Result<Response<proto::ListLateAnnualReportsResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        reports::list(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_procedure_processing_times(
        &self,
        request: Request<proto::GetProcedureProcessingTimesRequest>,
    ) -> Result<Response<proto::GetProcedureProcessingTimesResponse>, Status> {
        procedures::get(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_breaches(
        &self,
        request: Request<proto::ListBreachesRequest>,
    ) -> Result<Response<proto::ListBreachesResponse>, Status> {
        self.narrowed(&request, Narrowed::Park(&request.get_ref().park_id))
            .await?;
        breaches::list(&self.0, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_aggregate_history(
        &self,
        request: Request<proto::GetAggregateHistoryRequest>,
    ) -> Result<Response<proto::GetAggregateHistoryResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let kind = AggregateKind::parse(&r.aggregate_type);
        if kind.is_none() {
            let names: Vec<&str> = AggregateKind::ALL.iter().map(|k| k.as_str()).collect();
            f.violation(
                "aggregate_type",
                format!("must be one of {}", names.join(", ")),
            );
        }
        let id = f.check("aggregate_id", fields::uuid(&r.aggregate_id));
        let known = match &r.known {
            None => Some(Known::Now),
            Some(ProtoKnown::AtPosition(p)) => Some(Known::AtPosition(*p)),
            Some(ProtoKnown::RecordedBy(ts)) => f
                .check("recorded_by", fields::instant(ts))
                .map(|t| Known::RecordedBy(format_timestamp(t))),
            Some(ProtoKnown::HappenedByDate(d)) => f
                .check("happened_by_date", fields::date(d))
                .and_then(|d| match kcn_domain::limits::start_of_next_local_day(d) {
                    Some(end) => Some(Known::HappenedBefore(format_timestamp(end))),
                    None => {
                        f.violation("happened_by_date", "is the last day of the calendar");
                        None
                    }
                }),
        };
        f.finish()?;
        take!(kind, id, known);
        let stream = self.0.store.stream(kind, id).await.map_err(error::store)?;
        if stream.is_empty() {
            return Err(error::domain(kcn_domain::DomainError::NotFound {
                kind,
                id,
            }));
        }
        let h = history::history(kind, stream, &known).map_err(error::store)?;
        let entries = h
            .entries
            .into_iter()
            .map(|entry| {
                let e = entry.event;
                let m = entry.metadata;
                let actor = m.as_ref().map(|m| &m.actor);
                proto::HistoryEntry {
                    position: e.position,
                    aggregate_version: e.aggregate_version,
                    event_type: e.event_type,
                    occurred_at: stored_timestamp(&e.occurred_at),
                    recorded_at: stored_timestamp(&e.recorded_at),
                    principal: actor.map(|a| a.principal.clone()).unwrap_or_default(),
                    organisation: actor
                        .and_then(|a| a.organisation.clone())
                        .unwrap_or_default(),
                    role: actor.and_then(|a| a.role.clone()).unwrap_or_default(),
                    authentication: actor.map(|a| a.authentication.clone()).unwrap_or_default(),
                    acting_authority_id: m
                        .as_ref()
                        .and_then(|m| m.acting_authority_id)
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    request_id: m
                        .as_ref()
                        .and_then(|m| m.request_id.clone())
                        .unwrap_or_default(),
                    correlation_id: m
                        .as_ref()
                        .and_then(|m| m.correlation_id.clone())
                        .unwrap_or_default(),
                    payload_json: String::from_utf8_lossy(&e.payload).into_owned(),
                }
            })
            .collect();
        Ok(Response::new(proto::GetAggregateHistoryResponse {
            aggregate_type: kind.as_str().to_owned(),
            aggregate_id: id.to_string(),
            version: h.version,
            state_json: h.state.to_string(),
            entries,
        }))
    }
}

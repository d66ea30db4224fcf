//! The audit questions and the transparency log's proofs at N events: every RPC of
//! `kcn.ledger.v1.AuditQueryService` and `AuditService/GetTimeline`, `GetCheckpoint`,
//! `GetInclusionProof` and `GetConsistencyProof`, one caller (c=1), each asked `calls` times about
//! ids varied over what the generator made (parks, tenants, incidents, …), so that no answer is a
//! cache hit of the one before. A listing's latency is its first page (the default 100 entries).
//! An answer that is an error still counts its latency, and the errors are reported beside it.

use std::future::Future;
use std::time::Instant;

use kcn_ledger::client::AuthChannel;
use kcn_ledger::generate::Generated;
use kcn_services::proto::{
    self, audit_query_service_client::AuditQueryServiceClient,
    audit_service_client::AuditServiceClient,
};
use tonic::Status;

use crate::load::Latencies;

/// One question's figures.
#[derive(Debug, Clone)]
pub struct Question {
    pub name: &'static str,
    pub errors: u64,
    pub first_error: Option<String>,
    pub latencies: Latencies,
}

/// The ids the questions are asked about.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub companies: Vec<String>,
    pub parks: Vec<String>,
    pub tenants: Vec<String>,
    pub incidents: Vec<String>,
    pub inspections: Vec<String>,
    pub consultations: Vec<String>,
    pub exchanges: Vec<String>,
    pub dossiers: Vec<String>,
}

impl Ids {
    pub fn from_generated(g: &Generated) -> Self {
        Self {
            companies: g.companies.clone(),
            parks: g.parks.clone(),
            tenants: g.tenants.clone(),
            incidents: g.incidents.clone(),
            inspections: g.inspections.clone(),
            consultations: g.consultations.clone(),
            exchanges: g.exchanges.clone(),
            dossiers: g.dossiers.clone(),
        }
    }
}

/// The `i`th id of a list, spread over it (a stride prime to most lengths); an id that names
/// nothing when the list is empty (the answer is then NOT_FOUND or empty, and says so).
fn pick(list: &[String], i: usize) -> String {
    if list.is_empty() {
        return uuid::Uuid::from_u128(0x0193_c5a4_7d1e_7b3a_9f00_0000_0000_0000 + i as u128)
            .to_string();
    }
    list[(i * 7919) % list.len()].clone()
}

/// Times `calls` sequential calls of `call(i)`.
async fn time<F, Fut>(name: &'static str, calls: usize, mut call: F) -> Question
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), Status>>,
{
    // A few unrecorded calls first: connections and the server's statement caches.
    for i in 0..5 {
        let _ = call(calls + i).await;
    }
    let mut latencies = Vec::with_capacity(calls);
    let mut errors = 0;
    let mut first_error = None;
    for i in 0..calls {
        let sent = Instant::now();
        let answer = call(i).await;
        latencies.push(sent.elapsed());
        if let Err(status) = answer {
            errors += 1;
            first_error.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
        }
    }
    Question {
        name,
        errors,
        first_error,
        latencies: Latencies::new(latencies),
    }
}

fn date(i: usize) -> String {
    format!("{}-{:02}-{:02}", 2024 + i % 3, 1 + i % 12, 1 + i % 28)
}

fn year(i: usize) -> u32 {
    2024 + u32::try_from(i % 2).unwrap_or(0)
}

/// Asks every question `calls` times as `channel`'s principal (an auditor).
pub async fn ask_all(
    channel: &AuthChannel,
    ids: &Ids,
    calls: usize,
) -> anyhow::Result<Vec<Question>> {
    let q = AuditQueryServiceClient::new(channel.clone());
    let a = AuditServiceClient::new(channel.clone());
    let mut out = Vec::new();

    let kinds: Vec<(&str, &Vec<String>)> = [
        ("Park", &ids.parks),
        ("Tenant", &ids.tenants),
        ("InfrastructureCompany", &ids.companies),
        ("Incident", &ids.incidents),
        ("Inspection", &ids.inspections),
        ("IndustryConsultation", &ids.consultations),
        ("InformationExchange", &ids.exchanges),
        ("AdministrativeProcedure", &ids.dossiers),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .collect();
    out.push(
        time("GetAggregateHistory", calls, |i| {
            let mut q = q.clone();
            let (kind, list) = kinds
                .get(i % kinds.len().max(1))
                .copied()
                .unwrap_or(("InfrastructureCompany", &ids.companies));
            let request = proto::GetAggregateHistoryRequest {
                aggregate_type: kind.to_owned(),
                aggregate_id: pick(list, i / kinds.len().max(1)),
                known: None,
            };
            async move { q.get_aggregate_history(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetTenantInspectionRecord", calls, |i| {
            let mut q = q.clone();
            let request = proto::GetTenantInspectionRecordRequest {
                tenant_id: pick(&ids.tenants, i),
                as_of_date: "2026-06-30".to_owned(),
                ..Default::default()
            };
            async move { q.get_tenant_inspection_record(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListRepeatedInspections", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListRepeatedInspectionsRequest {
                from_year: 2024,
                to_year: 2026,
                park_id: pick(&ids.parks, i),
                ..Default::default()
            };
            async move { q.list_repeated_inspections(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetIncidentTimeline", calls, |i| {
            let mut q = q.clone();
            let request = proto::GetIncidentTimelineRequest {
                incident_id: pick(&ids.incidents, i),
                ..Default::default()
            };
            async move { q.get_incident_timeline(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListUnfollowedAlerts", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListUnfollowedAlertsRequest {
                park_id: pick(&ids.parks, i),
                within_days: Some(30),
                as_of_date: "2026-06-30".to_owned(),
                ..Default::default()
            };
            async move { q.list_unfollowed_alerts(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListConsultations", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListConsultationsRequest {
                park_id: pick(&ids.parks, i),
                ..Default::default()
            };
            async move { q.list_consultations(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListLateInformationRequests", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListLateInformationRequestsRequest {
                company_id: pick(&ids.companies, i),
                ..Default::default()
            };
            async move { q.list_late_information_requests(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetParkResponsibility", calls, |i| {
            let mut q = q.clone();
            let request = proto::GetParkResponsibilityRequest {
                park_id: pick(&ids.parks, i),
                date: date(i),
                ..Default::default()
            };
            async move { q.get_park_responsibility(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListLateAnnualReports", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListLateAnnualReportsRequest {
                year: year(i),
                park_id: pick(&ids.parks, i),
                as_of_date: "2026-06-30".to_owned(),
                ..Default::default()
            };
            async move { q.list_late_annual_reports(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetProcedureProcessingTimes", calls, |i| {
            let mut q = q.clone();
            let request = proto::GetProcedureProcessingTimesRequest {
                split_date: date(i),
                ..Default::default()
            };
            async move { q.get_procedure_processing_times(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("ListBreaches", calls, |i| {
            let mut q = q.clone();
            let request = proto::ListBreachesRequest {
                from_date: "2024-01-01".to_owned(),
                to_date: "2026-12-31".to_owned(),
                park_id: pick(&ids.parks, i),
                ..Default::default()
            };
            async move { q.list_breaches(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetTimeline", calls, |i| {
            let mut a = a.clone();
            let (subject_type, list) = if i % 2 == 0 || ids.tenants.is_empty() {
                (proto::SubjectType::Park, &ids.parks)
            } else {
                (proto::SubjectType::Tenant, &ids.tenants)
            };
            let request = proto::GetTimelineRequest {
                subject_type: subject_type as i32,
                subject_id: pick(list, i / 2),
                ..Default::default()
            };
            async move { a.get_timeline(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetCheckpoint", calls, |_| {
            let mut a = a.clone();
            async move {
                a.get_checkpoint(proto::GetCheckpointRequest { tree_size: 0 })
                    .await
                    .map(drop)
            }
        })
        .await,
    );
    let size = a
        .clone()
        .get_checkpoint(proto::GetCheckpointRequest { tree_size: 0 })
        .await?
        .into_inner()
        .tree_size
        .max(1);
    out.push(
        time("GetInclusionProof", calls, |i| {
            let mut a = a.clone();
            let request = proto::GetInclusionProofRequest {
                position: 1 + (i as u64 * 104_729) % size,
                tree_size: size,
            };
            async move { a.get_inclusion_proof(request).await.map(drop) }
        })
        .await,
    );
    out.push(
        time("GetConsistencyProof", calls, |i| {
            let mut a = a.clone();
            let request = proto::GetConsistencyProofRequest {
                old_size: 1 + (i as u64 * 104_729) % size,
                new_size: size,
            };
            async move { a.get_consistency_proof(request).await.map(drop) }
        })
        .await,
    );
    Ok(out)
}

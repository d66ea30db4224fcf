//! Monitoring alerts through the real server: exceedances at the central plant's outlet, an
//! interruption of the station's data, and the alert's resolution by the incident it led to.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::monitoring_service_client::MonitoringServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, ts, violated_fields};
use crate::incident::report_overflow;

const STATION: &str = "DONGAN-1-CETP-OUT";

fn monitoring(server: &TestServer) -> MonitoringServiceClient<Channel> {
    MonitoringServiceClient::new(server.channel.clone())
}

/// A COD reading above QCVN 40:2011 column B at the outlet of the park's central plant.
fn cod(p: &Province, alert_id: &str, when: &str) -> proto::ReceiveExceedanceRequest {
    proto::ReceiveExceedanceRequest {
        header: header(when),
        alert_id: alert_id.to_owned(),
        park_id: p.park.clone(),
        station_id: STATION.into(),
        tenant_id: String::new(),
        parameter: proto::MonitoringParameter::Cod as i32,
        value: "182.5".into(),
        unit: "mg/L".into(),
        limit: "150".into(),
        standard_ref: "QCVN 40:2011/BTNMT, column B".into(),
        measured_at: Some(ts("2025-06-10T22:55:00Z")),
    }
}

fn interrupted(
    p: &Province,
    alert_id: &str,
    when: &str,
) -> proto::ReportTransmissionInterruptedRequest {
    proto::ReportTransmissionInterruptedRequest {
        header: header(when),
        alert_id: alert_id.to_owned(),
        park_id: p.park.clone(),
        station_id: STATION.into(),
        last_data_at: Some(ts("2025-06-10T23:10:00Z")),
        reason: String::new(),
    }
}

fn restored(alert_id: &str, when: &str) -> proto::ReportTransmissionRestoredRequest {
    proto::ReportTransmissionRestoredRequest {
        header: header(when),
        alert_id: alert_id.to_owned(),
        note: "Analyser back online after a power cut; data back-filled from the logger".into(),
    }
}

async fn open_alert(server: &TestServer, p: &Province) -> String {
    monitoring(server)
        .receive_exceedance(cod(p, "", "2025-06-10T23:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

/// A COD exceedance at the central plant's outlet, the station's data interrupted and restored, and
/// the alert resolved by the inspection it led to; returns the alert id.
pub async fn alert_story(server: &TestServer, p: &Province, inspection_id: &str) -> String {
    let mut m = monitoring(server);
    let alert = open_alert(server, p).await;
    m.report_transmission_interrupted(interrupted(p, &alert, "2025-06-10T23:20:00Z"))
        .await
        .unwrap();
    m.report_transmission_restored(restored(&alert, "2025-06-11T03:00:00Z"))
        .await
        .unwrap();
    m.resolve_alert(proto::ResolveAlertRequest {
        header: header("2025-06-11T05:00:00Z"),
        alert_id: alert.clone(),
        inspection_id: inspection_id.to_owned(),
        incident_id: String::new(),
        reason: String::new(),
    })
    .await
    .unwrap();
    alert
}

#[tokio::test]
async fn exceedances_and_an_interruption_at_one_station_are_resolved_by_the_incident_they_led_to() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut m = monitoring(&server);
    let alert = open_alert(&server, &p).await;
    let mut tss = cod(&p, &alert, "2025-06-10T23:05:00Z");
    tss.parameter = proto::MonitoringParameter::Tss as i32;
    tss.value = "131".into();
    tss.limit = "100".into();
    m.receive_exceedance(tss).await.unwrap();
    m.report_transmission_interrupted(interrupted(&p, &alert, "2025-06-10T23:20:00Z"))
        .await
        .unwrap();
    m.report_transmission_restored(restored(&alert, "2025-06-11T03:00:00Z"))
        .await
        .unwrap();
    let incident = report_overflow(&server, &p).await;
    let resolved = m
        .resolve_alert(proto::ResolveAlertRequest {
            header: header("2025-06-11T05:00:00Z"),
            alert_id: alert.clone(),
            inspection_id: String::new(),
            incident_id: incident.clone(),
            reason: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(resolved.aggregate_version, 5);

    let got = m
        .get_alert(proto::GetAlertRequest {
            alert_id: alert.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, proto::AlertStatus::Resolved as i32);
    assert_eq!(got.station_id, STATION);
    assert_eq!(got.exceedances.len(), 2);
    assert_eq!(got.exceedances[1].value, "131");
    assert_eq!(got.interruptions, 1);
    assert_eq!(got.interrupted_at, None);
    assert_eq!(
        got.resolution.unwrap().incident_id.as_deref(),
        Some(incident.as_str())
    );

    let log: Vec<_> = server
        .read_log()
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "MonitoringAlert")
        .collect();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ExceedanceReceived",
            "ExceedanceReceived",
            "TransmissionInterrupted",
            "TransmissionRestored",
            "AlertResolved"
        ]
    );
    // Values and limits are stored as exact decimal strings, parameters by their proto names.
    let first: serde_json::Value = serde_json::from_slice(&log[0].payload).unwrap();
    assert_eq!(first["value"], "182.5");
    assert_eq!(first["limit"], "150");
    assert_eq!(first["parameter"], "MONITORING_PARAMETER_COD");
    assert_eq!(first["measured_at"], "2025-06-10T22:55:00Z");
}

#[tokio::test]
async fn a_restoration_without_an_interruption_and_a_second_interruption_are_refused() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut m = monitoring(&server);
    let alert = open_alert(&server, &p).await;
    let before = server.read_log().await.len();
    let status = m
        .report_transmission_restored(restored(&alert, "2025-06-10T23:30:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        ["TRANSMISSION_NOT_INTERRUPTED"]
    );
    assert_eq!(server.read_log().await.len(), before);
    m.report_transmission_interrupted(interrupted(&p, &alert, "2025-06-10T23:20:00Z"))
        .await
        .unwrap();
    let status = m
        .report_transmission_interrupted(interrupted(&p, &alert, "2025-06-10T23:40:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        ["TRANSMISSION_ALREADY_INTERRUPTED"]
    );
}

#[tokio::test]
async fn nothing_follows_a_resolved_alert() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut m = monitoring(&server);
    let alert = open_alert(&server, &p).await;
    m.resolve_alert(proto::ResolveAlertRequest {
        header: header("2025-06-11T05:00:00Z"),
        alert_id: alert.clone(),
        inspection_id: String::new(),
        incident_id: String::new(),
        reason: "Analyser calibration fault; a manual sample met the standard".into(),
    })
    .await
    .unwrap();
    let before = server.read_log().await.len();
    let status = m
        .receive_exceedance(cod(&p, &alert, "2025-06-11T06:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["ALERT_RESOLVED"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn an_exceedance_from_another_station_does_not_join_the_alert() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let alert = open_alert(&server, &p).await;
    let mut other = cod(&p, &alert, "2025-06-10T23:30:00Z");
    other.station_id = "DONGAN-1-CETP-IN".into();
    let status = monitoring(&server)
        .receive_exceedance(other)
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["STATION_MISMATCH"]);
}

#[tokio::test]
async fn a_resolution_naming_an_unknown_incident_is_an_unknown_reference() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let alert = open_alert(&server, &p).await;
    let status = monitoring(&server)
        .resolve_alert(proto::ResolveAlertRequest {
            header: header("2025-06-11T05:00:00Z"),
            alert_id: alert,
            inspection_id: String::new(),
            incident_id: uuid::Uuid::now_v7().to_string(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["UNKNOWN_REFERENCE"]);
}

#[tokio::test]
async fn floats_in_disguise_and_an_unspecified_parameter_are_invalid() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut request = cod(&p, "", "2025-06-10T23:00:00Z");
    request.value = "1.825e2".into();
    request.limit = "-150".into();
    request.parameter = proto::MonitoringParameter::Unspecified as i32;
    let status = monitoring(&server)
        .receive_exceedance(request)
        .await
        .unwrap_err();
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["limit", "parameter", "value"]);
}

#[tokio::test]
async fn a_resolution_with_neither_a_link_nor_a_reason_is_invalid() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let alert = open_alert(&server, &p).await;
    let status = monitoring(&server)
        .resolve_alert(proto::ResolveAlertRequest {
            header: header("2025-06-11T05:00:00Z"),
            alert_id: alert,
            inspection_id: String::new(),
            incident_id: String::new(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["reason"]);
}

/// Question 7 through the API, hand-computed with N = 7: a follow-up counts only when it concerns
/// the alert's subject within the N days, or when the alert's resolution names it.
/// - A1, at tenant Minh Phát's outlet on 10 June, is followed by the inspection of that tenant
///   planned on 12 June;
/// - A2, at the central plant's outlet (no tenant) on 10 June, is not followed by that same
///   inspection, which is about a tenant;
/// - A3, at the tenant's outlet on 1 July, is not followed by an inspection planned on 20 July
///   (19 days later);
/// - A4, on 10 June at another station, is followed because its resolution names an incident.
async fn question_7_counts_only_follow_ups_of_the_alerts_subject_within_the_days(
    server: TestServer,
) {
    let p = seed(&server).await;
    let mut m = monitoring(&server);
    let at_tenant = |station: &str, measured: &str, when: &str| proto::ReceiveExceedanceRequest {
        tenant_id: p.tenant.clone(),
        station_id: station.into(),
        measured_at: Some(ts(measured)),
        ..cod(&p, "", when)
    };
    let id = |o: Option<proto::CommandOutcome>| o.unwrap().aggregate_id;
    let a1 = id(m
        .receive_exceedance(at_tenant(
            "S-MP-1",
            "2025-06-10T01:00:00Z",
            "2025-06-10T01:05:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome);
    let a2 = open_alert(&server, &p).await;
    let a3 = id(m
        .receive_exceedance(at_tenant(
            "S-MP-2",
            "2025-07-01T01:00:00Z",
            "2025-07-01T01:05:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome);
    let a4 = id(m
        .receive_exceedance(proto::ReceiveExceedanceRequest {
            station_id: "S-3".into(),
            ..cod(&p, "", "2025-06-10T23:00:00Z")
        })
        .await
        .unwrap()
        .into_inner()
        .outcome);
    let mut c = crate::inspection::inspections(&server);
    for when in ["2025-06-12T02:00:00Z", "2025-07-20T02:00:00Z"] {
        c.plan_inspection(crate::inspection::plan(
            &p,
            proto::InspectionKind::PostCheck,
            when,
        ))
        .await
        .unwrap();
    }
    let incident = crate::incident::report_overflow(&server, &p).await;
    let resolved = m
        .resolve_alert(proto::ResolveAlertRequest {
            header: header("2025-06-11T05:00:00Z"),
            alert_id: a4.clone(),
            inspection_id: String::new(),
            incident_id: incident,
            reason: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let answer = kcn_services::proto::audit_query_service_client::AuditQueryServiceClient::new(
        server.channel.clone(),
    )
    .list_unfollowed_alerts(proto::ListUnfollowedAlertsRequest {
        park_id: p.park.clone(),
        within_days: Some(7),
        as_of_date: "2025-08-01".into(),
        min_position: resolved.last_position,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    let listed: Vec<&str> = answer.alerts.iter().map(|a| a.alert_id.as_str()).collect();
    assert_eq!(
        listed,
        [a2.as_str(), a3.as_str()],
        "A1 {a1} and A4 {a4} were followed"
    );
    assert_eq!(answer.alerts[1].window_ends_on, "2025-07-08");
}

crate::harness::on_both_backends!(
    question_7_counts_only_follow_ups_of_the_alerts_subject_within_the_days
);

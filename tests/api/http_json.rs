//! The HTTP/JSON surface (Connect's unary protocol) and gRPC-Web, on the gRPC port, through an
//! independent HTTP client (reqwest over HTTP/1.1): a command and a query in proto3 JSON and in
//! binary, every kind of error in Connect's JSON form with its `google.rpc` details decoded, the
//! credential checked as on gRPC, a streaming method named, the OpenAPI document served and equal
//! to the checked-in `docs/openapi.json` (which `KCN_BLESS=1` rewrites), and a gRPC-Web call.

use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{EMBEDDED_TOKEN, TestServer, seed};

fn url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.running.as_ref().unwrap().addr)
}

async fn post_json(
    server: &TestServer,
    method: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(url(server, &format!("/kcn.ledger.v1.{method}")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{method}"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn every_unary_rpc_answers_json_over_plain_http() {
    let server = TestServer::start().await;
    let p = seed(&server).await;

    // A query: snake_case or lowerCamelCase in, proto3 JSON (lowerCamelCase) out.
    let (status, park) = post_json(
        &server,
        "RegistryService/GetPark",
        Some(EMBEDDED_TOKEN),
        &json!({ "park_id": p.park }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{park}");
    assert_eq!(park["parkId"], p.park);
    assert_eq!(park["registration"]["code"], "DONGAN-1");
    let (_, camel) = post_json(
        &server,
        "RegistryService/GetPark",
        Some(EMBEDDED_TOKEN),
        &json!({ "parkId": p.park }),
    )
    .await;
    assert_eq!(camel, park);

    // A command: recorded, with its outcome.
    let (status, registered) = post_json(
        &server,
        "RegistryService/RegisterCompany",
        Some(EMBEDDED_TOKEN),
        &json!({
            "header": { "request_id": "http-json-1", "occurred_at": "2025-04-01T03:00:00Z" },
            "enterprise_code": "3700999888",
            "name": "Công ty Cổ phần Phát triển Hạ tầng Mỹ Phước",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let company = registered["outcome"]["aggregateId"].as_str().unwrap();
    assert_eq!(
        registered["outcome"]["lastPosition"],
        json!((p.last_position + 1).to_string())
    );
    // The same request id for another command: its own code, in Connect's form, with ErrorInfo.
    let (status, reused) = post_json(
        &server,
        "RegistryService/RegisterCompany",
        Some(EMBEDDED_TOKEN),
        &json!({
            "header": { "request_id": "http-json-1", "occurred_at": "2025-04-01T03:00:00Z" },
            "enterprise_code": "3700999889",
            "name": "Another company",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert_eq!(reused["code"], "already_exists");
    let detail = &reused["details"][0];
    assert_eq!(detail["type"], "google.rpc.ErrorInfo");
    assert!(detail["value"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(detail["debug"]["reason"], "REQUEST_ID_REUSED", "{reused}");

    // A field out of range: invalid_argument, its BadRequest decoded.
    let (status, invalid) = post_json(
        &server,
        "RegistryService/GetPark",
        Some(EMBEDDED_TOKEN),
        &json!({ "park_id": "not-a-uuid" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid["code"], "invalid_argument");
    assert_eq!(invalid["details"][0]["type"], "google.rpc.BadRequest");
    assert_eq!(
        invalid["details"][0]["debug"]["fieldViolations"][0]["field"],
        "park_id"
    );
    // A body that is no message: the same, naming the request.
    for body in [
        json!({ "park_id": 7 }),
        json!({ "no_such_field": "x" }),
        json!([1]),
    ] {
        let (status, undecodable) = post_json(
            &server,
            "RegistryService/GetPark",
            Some(EMBEDDED_TOKEN),
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            undecodable["details"][0]["debug"]["fieldViolations"][0]["field"], "request",
            "{undecodable}"
        );
    }
    // An unknown record, no credential, a wrong one.
    let (status, missing) = post_json(
        &server,
        "RegistryService/GetCompany",
        Some(EMBEDDED_TOKEN),
        &json!({ "company_id": "0190f0aa-0000-7000-8000-000000000001" }),
    )
    .await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, anonymous) = post_json(
        &server,
        "RegistryService/GetCompany",
        None,
        &json!({ "company_id": company }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{anonymous}");
    assert_eq!(anonymous["code"], "unauthenticated");
    let (status, _) = post_json(
        &server,
        "RegistryService/GetCompany",
        Some("kcn_wrong-token"),
        &json!({ "company_id": company }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A method that streams, and one that does not exist.
    let (status, streaming) = post_json(
        &server,
        "AuditService/ReadLog",
        Some(EMBEDDED_TOKEN),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(
        streaming["message"].as_str().unwrap().contains("gRPC-Web"),
        "{streaming}"
    );
    let (status, _) = post_json(
        &server,
        "RegistryService/NoSuchMethod",
        Some(EMBEDDED_TOKEN),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);

    // The binary form: application/proto in and out.
    let request = kcn_services::proto::GetParkRequest {
        park_id: p.park.clone(),
    };
    let response = reqwest::Client::new()
        .post(url(&server, "/kcn.ledger.v1.RegistryService/GetPark"))
        .header("content-type", "application/proto")
        .bearer_auth(EMBEDDED_TOKEN)
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/proto");
    let got =
        kcn_services::proto::GetParkResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(got.registration.unwrap().code, "DONGAN-1");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_checked_in_one() {
    let server = TestServer::start().await;
    let response = reqwest::get(url(&server, "/openapi.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    // Every unary method of the protos is a path; streaming ones are not.
    let paths = served["paths"].as_object().unwrap();
    assert!(paths.contains_key("/kcn.ledger.v1.RegistryService/RegisterPark"));
    assert!(paths.contains_key("/kcn.ledger.v1.AuditQueryService/ListBreaches"));
    assert!(!paths.contains_key("/kcn.ledger.v1.AuditService/ReadLog"));
    let schema = &served["components"]["schemas"]["kcn.ledger.v1.RegisterParkRequest"];
    assert_eq!(schema["properties"]["areaHa"]["type"], "string");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("KCN_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        recorded == text,
        "docs/openapi.json is not the document the protos give: rerun with KCN_BLESS=1 and review"
    );
}

#[tokio::test]
async fn a_browser_calls_the_api_through_grpc_web() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let message = kcn_services::proto::GetParkRequest {
        park_id: p.park.clone(),
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&message);
    let response = reqwest::Client::new()
        .post(url(&server, "/kcn.ledger.v1.RegistryService/GetPark"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .bearer_auth(EMBEDDED_TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    let bytes = response.bytes().await.unwrap();
    // A data frame with the message, then the trailers frame (flag 0x80) with the status.
    assert_eq!(bytes[0], 0);
    let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let got = kcn_services::proto::GetParkResponse::decode(&bytes[5..5 + len]).unwrap();
    assert_eq!(got.registration.unwrap().code, "DONGAN-1");
    assert_eq!(bytes[5 + len], 0x80);
    let trailers = String::from_utf8_lossy(&bytes[5 + len + 5..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// Python's grpcio reflection client speaks only v1alpha: it lists the services and resolves the
/// messages and the google.rpc error details through it.
#[tokio::test]
async fn reflection_serves_v1alpha_clients_and_the_error_detail_types() {
    let Some(python) = crate::transparency::python() else {
        return;
    };
    let server = TestServer::start().await;
    let addr = server.running.as_ref().unwrap().addr;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/reflection.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("http://{addr}"))
        .env("KCN_TOKEN", EMBEDDED_TOKEN)
        .output()
        .await
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "reflection.py:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("error details resolved"), "{stdout}");
}

/// `buf curl` prints an error's details with their `google.rpc` type and the message. (It prints
/// each detail's bytes, not its fields, although reflection serves the google.rpc types, as the
/// v1alpha test above shows; the Connect JSON surface decodes them in `debug`.)
#[tokio::test]
async fn buf_curl_prints_error_details_with_their_type() {
    let Some(python) = crate::transparency::python() else {
        return;
    };
    let buf = python.parent().unwrap().join("buf");
    let server = TestServer::start().await;
    let addr = server.running.as_ref().unwrap().addr;
    let output = tokio::process::Command::new(buf)
        .args(["curl", "--protocol", "grpc", "--http2-prior-knowledge"])
        .args(["-H", &format!("authorization: Bearer {EMBEDDED_TOKEN}")])
        .args(["--reflect-header", "*", "-d", r#"{"park_id":"not-a-uuid"}"#])
        .arg(format!(
            "http://{addr}/kcn.ledger.v1.RegistryService/GetPark"
        ))
        .output()
        .await
        .expect("buf runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{printed}");
    assert!(
        printed.contains("\"code\": \"invalid_argument\""),
        "{printed}"
    );
    assert!(printed.contains("google.rpc.BadRequest"), "{printed}");
    assert!(printed.contains("park_id: must be a UUID"), "{printed}");
}

/// The provincial monitoring system pushes an exceedance as a CloudEvent with an integration
/// principal's token: it becomes `ExceedanceReceived`, carrying the message's source and id; the
/// same message again is recorded once, the same id with other content is refused, and what is not
/// a monitoring CloudEvent, or comes without a credential, is refused and leaves nothing.
async fn monitoring_cloudevents_are_recorded_once(server: TestServer) {
    let p = seed(&server).await;
    let token = kcn_services::proto::principal_service_client::PrincipalServiceClient::new(
        server.channel.clone(),
    )
    .issue_principal(kcn_services::proto::IssuePrincipalRequest {
        header: crate::harness::header("2026-01-01T00:00:00Z"),
        name: "Hệ thống quan trắc tự động tỉnh".into(),
        role: kcn_services::proto::Role::Integration as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .token;
    let post = |body: Value, token: Option<String>| {
        let server = &server;
        async move {
            let mut request = reqwest::Client::new()
                .post(url(server, "/ingest/monitoring"))
                .header("content-type", "application/cloudevents+json")
                .body(body.to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let json: Value = response.json().await.unwrap();
            (status, json)
        }
    };
    let exceedance = |value: &str| {
        json!({
            "specversion": "1.0",
            "type": "vn.kcn.monitoring.exceedance",
            "source": "https://quantrac.binhduong.gov.vn/stations",
            "id": "MSG-2025-000123",
            "time": "2025-06-11T01:05:00Z",
            "datacontenttype": "application/json",
            "data": {
                "park_id": p.park,
                "station_id": "DA-WW-01",
                "parameter": "MONITORING_PARAMETER_COD",
                "value": value,
                "unit": "mg/L",
                "limit": "150",
                "standard_ref": "QCVN 40:2011/BTNMT, column B",
                "measured_at": "2025-06-11T01:00:00Z",
            },
        })
    };
    let before = server.read_log().await.len();
    let (status, first) = post(exceedance("182.5"), Some(token.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let log = server.read_log().await;
    assert_eq!(log.len(), before + 1);
    let recorded = log.last().unwrap();
    assert_eq!(recorded.event_type, "ExceedanceReceived");
    let metadata: Value = serde_json::from_slice(&recorded.metadata).unwrap();
    let source = metadata.to_string();
    assert!(source.contains("MSG-2025-000123"), "{metadata}");
    assert!(source.contains("quantrac.binhduong.gov.vn"), "{metadata}");
    // Sent again: the same outcome, nothing appended.
    let (status, again) = post(exceedance("182.5"), Some(token.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["outcome"]["replayed"], true);
    assert_eq!(again["outcome"]["eventIds"], first["outcome"]["eventIds"]);
    // The same id with another value: its own code.
    let (status, reused) = post(exceedance("190.0"), Some(token.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert_eq!(reused["details"][0]["debug"]["reason"], "REQUEST_ID_REUSED");
    // Not a monitoring CloudEvent; no credential.
    let mut flood = exceedance("182.5");
    flood["type"] = json!("vn.kcn.monitoring.flood");
    let (status, refused) = post(flood, Some(token.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused["details"][0]["debug"]["fieldViolations"][0]["field"],
        "request"
    );
    let (status, _) = post(exceedance("182.5"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.read_log().await.len(), before + 1);
}

crate::harness::on_both_backends!(monitoring_cloudevents_are_recorded_once);

/// A browser page of an allowed origin may call the API (CORS): its preflight is answered without a
/// credential, and the answer to the call names the origin and exposes the gRPC trailers'
/// headers; another origin gets no such permission, and a server configured with no origin
/// answers none. A configured origin that is not one stops the server from starting.
#[tokio::test]
async fn browser_pages_of_the_allowed_origins_may_call_the_api() {
    const PORTAL: &str = "https://portal.binhduong.gov.vn";
    let server = TestServer::start_configured(tempfile::tempdir().unwrap(), None, |c| {
        c.cors_allowed_origins = vec![PORTAL.to_owned()];
    })
    .await;
    let client = reqwest::Client::new();
    let check = url(&server, "/grpc.health.v1.Health/Check");
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, &check)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight(PORTAL).await.unwrap();
    assert!(allowed.status().is_success(), "{allowed:?}");
    assert_eq!(allowed.headers()["access-control-allow-origin"], PORTAL);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(headers.contains("authorization"), "{headers}");
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "{other:?}"
    );

    let call = client
        .post(&check)
        .header("origin", PORTAL)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), StatusCode::OK);
    assert_eq!(call.headers()["access-control-allow-origin"], PORTAL);
    let exposed = call.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("grpc-status-details-bin"), "{exposed}");

    let plain = TestServer::start().await;
    let answer = client
        .post(url(&plain, "/grpc.health.v1.Health/Check"))
        .header("origin", PORTAL)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    for bad in [
        "portal.binhduong.gov.vn",
        "https://portal.binhduong.gov.vn/",
        "ftp://x",
    ] {
        let err = kcn_ledger::connect::cors(&[bad.to_owned()]).unwrap_err();
        assert!(err.to_string().contains("cors_allowed_origins"), "{err}");
    }
}

//! TLS and mutual TLS (issue 11): a server with `tls_cert` and `tls_key` speaks only TLS; with
//! `tls_client_ca`, a client certificate registered to a principal identifies it without a token,
//! until the principal is revoked. The certificates are made here, with rcgen.

use std::sync::Arc;

use kcn_services::proto;
use kcn_services::proto::principal_service_client::PrincipalServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use sha2::Digest as _;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_types::StatusExt;

use crate::harness::{TestClock, at, header, with_token};

const ADMIN: &str = "kcn_tls-test-first-administrator-token-000000000000";

/// A certificate and its key, in PEM.
struct Issued {
    cert: String,
    key: String,
    der: Vec<u8>,
}

fn leaf(ca: &CertifiedIssuer<'_, KeyPair>, name: &str, usage: ExtendedKeyUsagePurpose) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca).unwrap();
    Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

struct Tls {
    _dir: tempfile::TempDir,
    running: kcn_ledger::Running,
    ca: String,
    client: Issued,
    stranger: Issued,
}

async fn start() -> Tls {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let server = leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf(&ca, "company-system", ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = leaf(&ca, "unregistered", ExtendedKeyUsagePurpose::ClientAuth);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let token_file = write("admin.token", ADMIN);
    let config = kcn_ledger::Config {
        data_dir: dir.path().to_path_buf(),
        bootstrap_token_file: Some(token_file),
        tls_cert: Some(write("server.pem", &server.cert)),
        tls_key: Some(write("server.key", &server.key)),
        tls_client_ca: Some(write("ca.pem", &ca.pem())),
        ..kcn_ledger::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let clock = Arc::new(TestClock::at(at("2026-01-01T00:00:00Z")));
    let running = kcn_ledger::start(config, listener, clock).await.unwrap();
    Tls {
        ca: ca.pem(),
        _dir: dir,
        running,
        client,
        stranger,
    }
}

impl Tls {
    /// A TLS channel trusting the test CA, presenting `certificate` if given.
    async fn channel(&self, certificate: Option<&Issued>) -> Channel {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost");
        if let Some(c) = certificate {
            tls = tls.identity(Identity::from_pem(&c.cert, &c.key));
        }
        Channel::from_shared(format!("https://{}", self.running.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

async fn caller(channel: Channel) -> Result<proto::GetCallerResponse, tonic::Status> {
    PrincipalServiceClient::new(channel)
        .get_caller(proto::GetCallerRequest {})
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_tls_server_refuses_plain_http2_and_serves_tokens_and_registered_certificates() {
    let tls = start().await;
    // Plain HTTP/2 gets no answer from a TLS server.
    let plain = Channel::from_shared(format!("http://{}", tls.running.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        assert!(caller(plain).await.is_err(), "a plain call was answered");
    }
    // A token over TLS.
    let admin = with_token(&tls.channel(None).await, Some(ADMIN));
    let mut principals = PrincipalServiceClient::new(admin);
    let fingerprint = hex::encode(sha2::Sha256::digest(&tls.client.der));
    let issued = principals
        .issue_principal(proto::IssuePrincipalRequest {
            header: header("2026-01-01T00:00:00Z"),
            name: "Hệ thống của công ty".into(),
            role: proto::Role::Auditor as i32,
            client_certificate_sha256: fingerprint.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // The registered certificate identifies the principal, without a token.
    let me = caller(tls.channel(Some(&tls.client)).await).await.unwrap();
    assert_eq!(me.principal_id, issued.principal_id);
    assert_eq!(me.authentication, "client_certificate");
    // A certificate the CA signed but no principal holds identifies nobody.
    let status = caller(tls.channel(Some(&tls.stranger)).await)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "CREDENTIALS_UNKNOWN"
    );
    // No TLS client certificate and no token: no credential.
    let status = caller(tls.channel(None).await).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A certificate identifies one principal only.
    let taken = principals
        .issue_principal(proto::IssuePrincipalRequest {
            header: header("2026-01-01T00:00:00Z"),
            name: "Kẻ mạo danh".into(),
            role: proto::Role::Auditor as i32,
            client_certificate_sha256: fingerprint.to_uppercase(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");

    // Revoked, the certificate stops working at the next call.
    principals
        .revoke_principal(proto::RevokePrincipalRequest {
            header: header("2026-01-01T00:00:00Z"),
            principal_id: issued.principal_id.clone(),
            reason: "certificate withdrawn".into(),
        })
        .await
        .unwrap();
    let status = caller(tls.channel(Some(&tls.client)).await)
        .await
        .unwrap_err();
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "CREDENTIALS_REVOKED"
    );
    tls.running.shutdown().await.unwrap();
}

//! The command line's gRPC client: a channel to a server that sends the caller's bearer token on
//! every call, read from `--token-file` or the `KCN_TOKEN` environment variable (never a flag, so
//! that it stays out of the process list and the shell's history).

use std::path::Path;

use anyhow::Context as _;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that authenticates every call.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token itself is never shown.
        f.write_str("Bearer(..)")
    }
}

impl Bearer {
    /// A token to send, or none (the server then answers UNAUTHENTICATED to all but health).
    ///
    /// # Errors
    ///
    /// A token that cannot be sent as metadata.
    pub fn new(token: Option<&str>) -> anyhow::Result<Self> {
        let value = token
            .map(|t| format!("Bearer {}", t.trim()).parse())
            .transpose()
            .context("the token is not printable ASCII")?;
        Ok(Self(value))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The token a command is run with: the file's content, else `KCN_TOKEN`, else none.
///
/// # Errors
///
/// A token file that cannot be read.
pub fn token(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token from {}", path.display()))?;
        return Ok(Some(text.trim().to_owned()));
    }
    Ok(std::env::var("KCN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

/// The client's TLS settings for an `https://` server: the certificate authority that signed the
/// server's certificate (`KCN_TLS_CA_FILE`, PEM) and, for mutual TLS, the client's certificate and
/// key (`KCN_TLS_CLIENT_CERT_FILE`, `KCN_TLS_CLIENT_KEY_FILE`).
fn tls_from_env() -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |var: &str| -> anyhow::Result<Option<Vec<u8>>> {
        match std::env::var_os(var) {
            Some(path) => std::fs::read(&path)
                .map(Some)
                .with_context(|| format!("cannot read {var} {}", Path::new(&path).display())),
            None => Ok(None),
        }
    };
    let mut tls = ClientTlsConfig::new();
    match read("KCN_TLS_CA_FILE")? {
        Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(ca)),
        None => anyhow::bail!(
            "an https:// server needs KCN_TLS_CA_FILE: the certificate authority that signed its \
             certificate (PEM)"
        ),
    }
    match (
        read("KCN_TLS_CLIENT_CERT_FILE")?,
        read("KCN_TLS_CLIENT_KEY_FILE")?,
    ) {
        (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(cert, key)),
        (None, None) => {}
        _ => anyhow::bail!("KCN_TLS_CLIENT_CERT_FILE and KCN_TLS_CLIENT_KEY_FILE go together"),
    }
    Ok(tls)
}

/// Connects to a server at `http://host:port` (or `https://`, see [`tls_from_env`]) with a
/// token.
///
/// # Errors
///
/// An unusable URL, a refused connection or an unusable token.
pub async fn connect(server: &str, token: Option<&str>) -> anyhow::Result<AuthChannel> {
    let mut endpoint = Channel::from_shared(server.to_owned()).with_context(|| {
        format!("{server:?} is not a server URL such as http://127.0.0.1:50051")
    })?;
    if server.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls_from_env()?)
            .context("the TLS settings are not usable")?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    Ok(InterceptedService::new(channel, Bearer::new(token)?))
}

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

/// Connects to a server at `http://host:port` with a token.
///
/// # Errors
///
/// An unusable URL, a refused connection or an unusable token.
pub async fn connect(server: &str, token: Option<&str>) -> anyhow::Result<AuthChannel> {
    let channel = Channel::from_shared(server.to_owned())
        .with_context(|| format!("{server:?} is not a server URL such as http://127.0.0.1:50051"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    Ok(InterceptedService::new(channel, Bearer::new(token)?))
}

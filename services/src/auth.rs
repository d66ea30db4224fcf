//! Authentication and the role check, as one tower layer in front of every service: it reads the
//! call's `authorization: Bearer <token>` header, finds the principal the token's SHA-256 belongs to
//! and folds that principal's stream from the log, both in one read (so a revocation or a role
//! change counts from the very next call, on every server of the database), and looks the method up in [`crate::access`]. A
//! refused call is answered here, before the service has read a byte of its body; an accepted one
//! carries the caller's [`Identity`] in its extensions, which the command path records as the
//! events' actor.
//!
//! Tokens are 32 random bytes from the operating system, base64url after a `kcn_` prefix. The
//! store keeps only their SHA-256 (a fast hash is right for a secret of 256 random bits: there is
//! nothing to guess), looked up by that hash and compared again in constant time.

use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use futures::future::BoxFuture;
use kcn_domain::principal::{Inactive, Principal, Role};
use kcn_domain::time::Clock;
use kcn_eventstore::EventStore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use crate::access::{self, Decision, Identity};
use crate::error::{self, ERROR_DOMAIN};

/// The prefix of every token this server issues, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "kcn_";
/// The shortest and longest token accepted in a header (an issued one is 47 characters).
const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=256;

/// A new bearer token: 32 random bytes from the operating system.
pub fn new_token() -> Result<String, Status> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| error::internal(&format!("the system's random source failed: {e}")))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a token: its SHA-256, as 64 lowercase hex digits.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a text can be a token: printable ASCII without spaces, of a bounded length.
pub fn well_formed(token: &str) -> bool {
    TOKEN_LENGTH.contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Establishes who calls, from the log and the credentials beside it.
pub struct Authenticator {
    store: EventStore,
    clock: Arc<dyn Clock>,
    /// The SHA-256 of the in-process credential of a program that embeds the server, if it has
    /// one, with the name its events record. The binary never has one.
    embedded: Option<(String, String)>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

fn unauthenticated(reason: &str, message: String) -> Status {
    Status::with_error_details(
        tonic::Code::Unauthenticated,
        message,
        ErrorDetails::with_error_info(
            reason,
            ERROR_DOMAIN,
            std::collections::HashMap::<String, String>::new(),
        ),
    )
}

impl Authenticator {
    pub fn new(store: EventStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            embedded: None,
        }
    }

    /// Accepts `token` as the in-process identity `name` of the program embedding the server: it may
    /// call every method, and its events record it with authentication `embedded`. For test
    /// harnesses and tools linked with the server; the `kcn-ledger` binary never calls this.
    pub fn with_embedded(mut self, token: &str, name: &str) -> Self {
        self.embedded = Some((token_sha256(token), name.to_owned()));
        self
    }

    /// The caller of a request with these headers and, over mutual TLS, this client certificate
    /// (DER), or why it is not authenticated. A bearer token, when sent, is the credential; without
    /// one, the certificate is.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        certificate: Option<&[u8]>,
    ) -> Result<Identity, Status> {
        if let (None, Some(der)) = (headers.get(http::header::AUTHORIZATION), certificate) {
            let hash = hex::encode(Sha256::digest(der));
            return self
                .principal_of(&hash, "client_certificate", || {
                    unauthenticated(
                        "CREDENTIALS_UNKNOWN",
                        "this client certificate identifies no principal; an administrator \
                         registers it with `kcn-ledger principals add --certificate`"
                            .to_owned(),
                    )
                })
                .await;
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(unauthenticated(
                "CREDENTIALS_MISSING",
                "this method needs a credential: send the metadata `authorization: Bearer <token>` \
                 (an administrator issues tokens with `kcn-ledger principals add`)"
                    .to_owned(),
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| well_formed(t));
        let Some(token) = token else {
            return Err(unauthenticated(
                "CREDENTIALS_MALFORMED",
                "the authorization metadata must be `Bearer <token>`, the token as issued"
                    .to_owned(),
            ));
        };
        let hash = token_sha256(token);
        if let Some((embedded, name)) = &self.embedded
            && bool::from(embedded.as_bytes().ct_eq(hash.as_bytes()))
        {
            return Ok(Identity {
                principal: name.clone(),
                role: None,
                organisation_id: None,
                authentication: "embedded",
            });
        }
        self.principal_of(&hash, "bearer_token", || {
            unauthenticated(
                "CREDENTIALS_UNKNOWN",
                "this token is not known to the ledger; ask its administrator for one".to_owned(),
            )
        })
        .await
    }

    /// The active principal whose credential has this SHA-256, established by `authentication`.
    async fn principal_of(
        &self,
        hash: &str,
        authentication: &'static str,
        unknown: impl Fn() -> Status,
    ) -> Result<Identity, Status> {
        let found = self
            .store
            .load_by_credential::<Principal>(hash)
            .await
            .map_err(error::store)?;
        let Some(found) = found else {
            return Err(unknown());
        };
        if !bool::from(found.stored_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(unknown());
        }
        let Ok(principal_id) = Uuid::parse_str(&found.principal_id) else {
            return Err(unknown());
        };
        let Some((state, _)) = found.state else {
            return Err(unknown());
        };
        let now = self.clock.now();
        match state.grant_at(now) {
            Ok(grant) => Ok(Identity {
                principal: principal_id.to_string(),
                role: Some(grant.role),
                organisation_id: grant.organisation_id,
                authentication,
            }),
            Err(Inactive::Revoked(at)) => Err(unauthenticated(
                "CREDENTIALS_REVOKED",
                format!("principal {principal_id} was revoked at {at}; ask for a new token"),
            )),
            Err(Inactive::Expired(at)) => Err(unauthenticated(
                "CREDENTIALS_EXPIRED",
                format!("principal {principal_id}'s token expired at {at}; ask for a new token"),
            )),
            Err(Inactive::NotYetIssued) => Err(unauthenticated(
                "CREDENTIALS_NOT_YET_VALID",
                format!("principal {principal_id} may act only from the time it was issued for"),
            )),
        }
    }

    /// Whether `identity` may call the method at `path`; the refusal names the rule.
    pub fn authorize(identity: &Identity, path: &str) -> Result<(), Status> {
        let allowed: &[Role] = match access::decide(path) {
            Decision::Open | Decision::Authenticated => return Ok(()),
            Decision::Roles(roles) => roles,
            // A method outside the contract is answered UNIMPLEMENTED by the router.
            Decision::Unlisted if !path.starts_with("/kcn.ledger.") => return Ok(()),
            Decision::Unlisted => &[],
        };
        let Some(role) = identity.role else {
            // The embedding program's own identity calls everything.
            return Ok(());
        };
        if allowed.contains(&role) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        let metadata = std::collections::HashMap::from([
            ("role".to_owned(), role.as_str().to_owned()),
            ("method".to_owned(), path.to_owned()),
            ("allowed_roles".to_owned(), names.join(",")),
            ("rule".to_owned(), "kcn_services::access::RULES".to_owned()),
        ]);
        let message = if names.is_empty() {
            format!("{path} is not in the ledger's table of who may call what")
        } else {
            format!(
                "a {} may not call {path}; it is allowed to: {}",
                role.as_str(),
                names.join(", ")
            )
        };
        Err(Status::with_error_details(
            tonic::Code::PermissionDenied,
            message,
            ErrorDetails::with_error_info("ROLE_NOT_ALLOWED", ERROR_DOMAIN, metadata),
        ))
    }
}

/// The tower layer that authenticates and authorizes every call but health's.
#[derive(Debug, Clone)]
pub struct AuthLayer(Arc<Authenticator>);

impl AuthLayer {
    pub fn new(authenticator: Authenticator) -> Self {
        Self(Arc::new(authenticator))
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// [`AuthLayer`]'s service.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was made ready serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if access::decide(&path) == Decision::Open {
                return inner.call(request).await;
            }
            let certificate = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
                .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()));
            let checked = match auth
                .authenticate(request.headers(), certificate.as_deref())
                .await
            {
                Ok(identity) => Authenticator::authorize(&identity, &path).map(|()| identity),
                Err(status) => Err(status),
            };
            match checked {
                Ok(identity) => {
                    tracing::Span::current().record("principal", identity.principal.as_str());
                    request.extensions_mut().insert(identity);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

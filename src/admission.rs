//! What the server admits at once, so that no caller can exhaust it: a global limit on calls in
//! progress (a call beyond it is shed at once, not queued) and a rate limit per principal, each
//! answering `RESOURCE_EXHAUSTED` with a `RetryInfo` saying when to try again and an `ErrorInfo`
//! naming the limit. Both are tower layers: tower's `GlobalConcurrencyLimit` under `LoadShed`, and
//! `tower_governor`'s keyed token bucket (the `governor` crate's GCRA) keyed by the authenticated
//! principal. The largest request message is set on every service ([`Admission::max_message_bytes`]).

use std::sync::Arc;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use kcn_services::access::Identity as Caller;
use kcn_services::error::ERROR_DOMAIN;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};
use tower::BoxError;
use tower::layer::util::{Identity, Stack};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::util::MapErrLayer;
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Calls in progress at once, over all connections; `0` for no limit.
    pub max_concurrent_calls: usize,
    /// Calls each principal may start per second, sustained; `0` for no limit.
    pub calls_per_second: u32,
    /// Calls a principal may start at once above the sustained rate.
    pub burst: u32,
    /// The largest request message a service decodes, in bytes.
    pub max_message_bytes: usize,
}

/// The rate limit's key: the principal the authentication layer established (calls served
/// without a credential, health checks, share one key).
#[derive(Debug, Clone, Copy)]
pub struct PrincipalKey;

impl KeyExtractor for PrincipalKey {
    type Key = String;

    fn extract<T>(&self, req: &http::Request<T>) -> Result<String, GovernorError> {
        Ok(req
            .extensions()
            .get::<Caller>()
            .map(|i| i.principal.clone())
            .unwrap_or_default())
    }
}

/// `RESOURCE_EXHAUSTED`, with when to retry and which limit was reached.
fn exhausted(reason: &str, message: String, retry: Duration) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(retry));
    details.set_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
    Status::with_error_details(tonic::Code::ResourceExhausted, message, details)
}

/// The global limit on calls in progress: the load shedder's refusal mapped to a status, the
/// shedder, the limit.
pub type ConcurrencyLimitLayer = tower::ServiceBuilder<
    Stack<
        GlobalConcurrencyLimitLayer,
        Stack<LoadShedLayer, Stack<MapErrLayer<fn(BoxError) -> BoxError>, Identity>>,
    >,
>;

/// The per-principal rate limit.
pub type RateLimitLayer =
    tower_governor::GovernorLayer<PrincipalKey, NoOpMiddleware, tonic::body::Body>;

impl Admission {
    /// The per-principal rate limit layer, placed inside the authentication layer (which puts the
    /// caller in the request's extensions).
    pub fn rate_limit(&self) -> Option<RateLimitLayer> {
        if self.calls_per_second == 0 {
            return None;
        }
        let period = Duration::from_nanos(1_000_000_000 / u64::from(self.calls_per_second));
        let config = GovernorConfigBuilder::default()
            .key_extractor(PrincipalKey)
            .period(period)
            .burst_size(self.burst.max(1))
            .finish()?;
        let (rate, burst) = (self.calls_per_second, self.burst.max(1));
        Some(
            tower_governor::GovernorLayer::new(Arc::new(config)).error_handler(move |e| {
                let status = match e {
                    GovernorError::TooManyRequests { wait_time, .. } => exhausted(
                        "RATE_LIMITED",
                        format!(
                            "this principal started more than {rate} calls per second (bursts of \
                             {burst}); retry after the delay in RetryInfo"
                        ),
                        Duration::from_secs(wait_time).max(period),
                    ),
                    other => Status::internal(other.to_string()),
                };
                status.into_http()
            }),
        )
    }

    /// The global limit on calls in progress: shed beyond it, never queued.
    pub fn concurrency_limit(&self) -> ConcurrencyLimitLayer {
        // No limit is the most permits a semaphore holds.
        let permits = match self.max_concurrent_calls {
            0 => tokio::sync::Semaphore::MAX_PERMITS,
            n => n.min(tokio::sync::Semaphore::MAX_PERMITS),
        };
        let shed: fn(BoxError) -> BoxError = overloaded_is_exhausted;
        tower::ServiceBuilder::new()
            .map_err(shed)
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(permits))
    }
}

/// The load shedder's refusal as the status a caller reads; any other error as it was.
fn overloaded_is_exhausted(e: BoxError) -> BoxError {
    if e.is::<tower::load_shed::error::Overloaded>() {
        Box::new(exhausted(
            "TOO_MANY_CALLS",
            "the server has as many calls in progress as it admits; retry after the delay in \
             RetryInfo"
                .to_owned(),
            Duration::from_millis(250),
        ))
    } else {
        e
    }
}

//! The tower layer that observes every RPC once it has ended: one structured log line (method,
//! request id, principal, peer, status code, duration, and a refused command's rule code), the
//! per-method request counter and latency histogram, and the `rpc` span that OpenTelemetry exports
//! (continuing the caller's trace when the request carries a W3C `traceparent`).
//!
//! An RPC ends with its status: in the response headers for a "trailers-only" answer (every error
//! of a unary call), in the trailers after the last message otherwise. The layer therefore follows
//! the response body to its end; a body dropped before its trailers is a call the client cancelled.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use prost::Message as _;
use tonic::Code;
use tonic::transport::server::TcpConnectInfo;
use tonic_types::StatusExt as _;
use tower::{Layer, Service};
use tracing::field::Empty;

/// The label of a path that is no method of this server: callers choose paths, and a metric label
/// per path would let them grow the metrics without bound.
const UNKNOWN_METHOD: &str = "unknown";

/// The longest path written to a log line (a path is the caller's text).
const MAX_LOGGED_PATH: usize = 200;

/// The log target of the per-RPC lines, for `RUST_LOG` (`kcn_ledger::rpc=warn` silences them).
pub const TARGET: &str = "kcn_ledger::rpc";

/// The paths (`/package.Service/Method`) of every method the server serves: the only method labels
/// the metrics ever carry.
#[derive(Debug, Clone, Default)]
pub struct Methods(Arc<HashSet<&'static str>>);

impl Methods {
    /// Every method of the services in the given encoded `FileDescriptorSet`s.
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut paths = HashSet::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(*set)?;
            for file in set.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        paths.insert(interned(&format!(
                            "/{package}.{}/{}",
                            service.name(),
                            method.name()
                        )));
                    }
                }
            }
        }
        Ok(Self(Arc::new(paths)))
    }

    /// The metric label of a request path: the path itself for a method of this server.
    fn label(&self, path: &str) -> &'static str {
        self.0.get(path).copied().unwrap_or(UNKNOWN_METHOD)
    }
}

/// A method path as a `'static` label. Each distinct path is leaked once per process, however
/// many servers it starts: the paths come from the compiled-in descriptors, never from a request.
fn interned(path: &str) -> &'static str {
    use std::sync::{Mutex, OnceLock};
    static LABELS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut labels = LABELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(label) = labels.get(path) {
        return label;
    }
    let label: &'static str = Box::leak(path.to_owned().into_boxed_str());
    labels.insert(label);
    label
}

/// Observes every RPC of the server it wraps.
#[derive(Debug, Clone)]
pub struct RpcLayer {
    methods: Methods,
}

impl RpcLayer {
    pub fn new(methods: Methods) -> Self {
        Self { methods }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = Rpc<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Rpc {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// The service [`RpcLayer`] makes.
#[derive(Debug, Clone)]
pub struct Rpc<S> {
    inner: S,
    methods: Methods,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Rpc<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let record = Record::start(&request, &self.methods);
        let inner = {
            let _entered = record.span.enter();
            self.inner.call(request)
        };
        ObservedFuture {
            inner,
            record: Some(record),
        }
    }
}

/// One RPC under way: what its log line and metrics will say once it ends.
#[derive(Debug)]
struct Record {
    span: tracing::Span,
    /// The method's metric label.
    label: &'static str,
    /// The request path as logged (bounded).
    path: String,
    started: Instant,
    finished: bool,
}

impl Record {
    fn start<B>(request: &http::Request<B>, methods: &Methods) -> Self {
        let path = request.uri().path();
        let label = methods.label(path);
        let path: String = path.chars().take(MAX_LOGGED_PATH).collect();
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .map(tracing::field::display);
        // `request_id` is filled in by the service once it has parsed a command's header
        // (`kcn_services::Ledger::header`); `principal` once callers authenticate.
        let span = tracing::info_span!(
            target: TARGET,
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            method = %path,
            peer,
            request_id = Empty,
            principal = Empty,
        );
        continue_trace(&span, request.headers());
        Self {
            span,
            label,
            path,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Logs and counts the RPC's end, once. `status` holds `grpc-status` and its details.
    fn finish(&mut self, status: Option<&HeaderMap>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        let (code, rule) = match status.and_then(tonic::Status::from_header_map) {
            Some(status) => (status.code(), rule_of(&status)),
            // The body ended without a status: the server's fault, which tonic never does.
            None if status.is_some() => (Code::Unknown, None),
            // Dropped before its end: the client went away.
            None => (Code::Cancelled, None),
        };
        let code_name = code_name(code);
        metrics::counter!("kcn_rpc_requests_total", "method" => self.label, "code" => code_name)
            .increment(1);
        metrics::histogram!("kcn_rpc_duration_seconds", "method" => self.label, "code" => code_name)
            .record(elapsed.as_secs_f64());
        let duration_ms = elapsed.as_secs_f64() * 1e3;
        let _entered = self.span.enter();
        if is_server_fault(code) {
            self.span.record("otel.status_code", "ERROR");
            tracing::warn!(target: TARGET, method = %self.path, code = code_name, duration_ms, rule, "rpc");
        } else {
            tracing::info!(target: TARGET, method = %self.path, code = code_name, duration_ms, rule, "rpc");
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// Makes the RPC's span a child of the caller's, when the request carries a W3C `traceparent`
/// (one the propagator cannot read is ignored). Without trace export there is nothing to join.
fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    // Fails only when no OpenTelemetry layer is installed: traces are off.
    let _ = span.set_parent(parent);
}

/// The rule code of a refusal: its `PreconditionFailure`'s violation types, or its `ErrorInfo`
/// reason (`VERSION_CONFLICT`, `REQUEST_ID_REUSED`).
fn rule_of(status: &tonic::Status) -> Option<String> {
    if status.code() == Code::Ok {
        return None;
    }
    let details = status.get_error_details();
    if let Some(failure) = details.precondition_failure() {
        let types: Vec<&str> = failure
            .violations
            .iter()
            .map(|v| v.r#type.as_str())
            .collect();
        return Some(types.join(","));
    }
    details.error_info().map(|info| info.reason.clone())
}

/// Codes that mean the server, not the caller, failed.
fn is_server_fault(code: Code) -> bool {
    matches!(code, Code::Internal | Code::Unknown | Code::DataLoss)
}

/// The canonical name of a status code, as gRPC spells it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Rpc`]: a trailers-only answer ends the RPC here, any other hands
    /// the record on to the body.
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F, ResBody, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<ObservedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.record {
            Some(record) => {
                let _entered = record.span.enter();
                this.inner.poll(cx)
            }
            None => this.inner.poll(cx),
        };
        let response = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => {
                if let Some(mut record) = this.record.take() {
                    record.finish(Some(&HeaderMap::new()));
                }
                return Poll::Ready(Err(e));
            }
            Poll::Ready(Ok(response)) => response,
        };
        let mut record = this.record.take();
        if response.headers().contains_key("grpc-status")
            && let Some(mut record) = record.take()
        {
            record.finish(Some(response.headers()));
        }
        Poll::Ready(Ok(response.map(|inner| ObservedBody { inner, record })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its RPC's record at the trailers (or when dropped before them).
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        record: Option<Record>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = match this.record {
            Some(record) => {
                let _entered = record.span.enter();
                this.inner.poll_frame(cx)
            }
            None => this.inner.poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(mut record) = this.record.take()
                {
                    record.finish(Some(trailers));
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take() {
                    record.finish(Some(&HeaderMap::new()));
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

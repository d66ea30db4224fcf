//! Plain HTTP and JSON for every unary RPC, on the gRPC port: the Connect protocol's unary form
//! (<https://connectrpc.com/docs/protocol>), so that `curl` and an e-government platform's HTTP
//! client call the API without a gRPC stack.
//!
//! `POST /<package>.<Service>/<Method>` with `content-type: application/json` (a proto3 JSON body)
//! or `application/proto` (the binary message) is transcoded here into the gRPC call it stands for
//! and handed to the same stack every gRPC call goes through (telemetry, admission,
//! authentication, rate limits, the service): nothing is served twice and nothing is skipped. The
//! answer comes back as the message in the request's encoding, or as Connect's JSON error
//! (`code`, `message`, `details` with each `google.rpc` detail's `type`, its bytes in `value` and,
//! decoded, in `debug`), with the HTTP status Connect maps the code to.
//!
//! Why by hand: no maintained crate serves the Connect protocol over tonic's services (the Rust
//! Connect implementations generate their own servers); the transcoding is small with
//! `prost-reflect`, which does the proto3 JSON mapping.
//!
//! A server-streaming method (`ReadLog`, `Subscribe`) is not unary: Connect's JSON form answers it
//! `unimplemented`, naming gRPC and gRPC-Web, which serve it.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use futures::future::BoxFuture;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use tonic::body::Body;

/// The encodings of a Connect unary call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Proto,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let essence = value.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Self::Json),
            "application/proto" => Some(Self::Proto),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Proto => "application/proto",
        }
    }
}

/// One method's messages.
#[derive(Debug, Clone)]
struct Method_ {
    input: MessageDescriptor,
    output: MessageDescriptor,
    /// Server-streaming (or client-streaming) methods are not served here.
    streaming: bool,
}

/// The methods of every service the server serves, by path (`/kcn.ledger.v1.AuditService/ReadLog`).
#[derive(Debug)]
struct Methods {
    by_path: HashMap<String, Method_>,
    /// Decodes the `google.rpc` details of an error for the `debug` field.
    pool: DescriptorPool,
    max_message_bytes: usize,
    /// The OpenAPI document of this surface, served at [`OPENAPI_PATH`].
    openapi: Bytes,
}

/// Where the OpenAPI document of the HTTP/JSON surface is served (without authentication: it
/// describes the API, it holds no record).
pub const OPENAPI_PATH: &str = "/openapi.json";

/// Serves Connect unary calls in front of the gRPC stack; every other request passes through.
#[derive(Debug, Clone)]
pub struct ConnectLayer {
    methods: Arc<Methods>,
}

impl ConnectLayer {
    /// The layer for the services in `descriptor_sets` (encoded `FileDescriptorSet`s), decoding
    /// request bodies of at most `max_message_bytes`.
    pub fn new(descriptor_sets: &[&[u8]], max_message_bytes: usize) -> anyhow::Result<Self> {
        let mut pool = DescriptorPool::new();
        for set in descriptor_sets {
            pool.decode_file_descriptor_set(*set)?;
        }
        let mut by_path = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                by_path.insert(
                    format!("/{}/{}", service.full_name(), method.name()),
                    Method_ {
                        input: method.input(),
                        output: method.output(),
                        streaming: method.is_server_streaming() || method.is_client_streaming(),
                    },
                );
            }
        }
        let openapi = crate::openapi::document(&pool, "kcn.ledger.v1", env!("CARGO_PKG_VERSION"));
        Ok(Self {
            methods: Arc::new(Methods {
                by_path,
                pool,
                max_message_bytes,
                openapi: serde_json::to_vec_pretty(&openapi)?.into(),
            }),
        })
    }
}

impl<S> tower::Layer<S> for ConnectLayer {
    type Service = Connect<S>;

    fn layer(&self, inner: S) -> Connect<S> {
        Connect {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// [`ConnectLayer`]'s service.
#[derive(Debug, Clone)]
pub struct Connect<S> {
    inner: S,
    methods: Arc<Methods>,
}

impl<S, R> tower::Service<http::Request<Body>> for Connect<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let methods = self.methods.clone();
        if request.method() == Method::GET && request.uri().path() == OPENAPI_PATH {
            let mut response = http::Response::new(Body::new(http_body_util::Full::new(
                methods.openapi.clone(),
            )));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Box::pin(async move { Ok(response) });
        }
        if let Some(response) = crate::console::serve(request.method(), request.uri().path()) {
            return Box::pin(async move { Ok(response) });
        }
        if request.method() == Method::POST && request.uri().path() == crate::ingest::PATH {
            return Box::pin(async move { ingest(&mut inner, request, &methods).await });
        }
        let encoding = Encoding::of(request.headers());
        let Some(encoding) = encoding.filter(|_| request.method() == Method::POST) else {
            return Box::pin(async move { Ok(inner.call(request).await?.map(Body::new)) });
        };
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let Some(method) = methods.by_path.get(&path).cloned() else {
                return Ok(error(
                    tonic::Code::Unimplemented,
                    &format!("no method {path}"),
                    None,
                    &methods.pool,
                ));
            };
            if method.streaming {
                return Ok(error(
                    tonic::Code::Unimplemented,
                    &format!(
                        "{path} streams its answer: call it over gRPC or gRPC-Web; Connect's \
                         JSON form serves unary methods only"
                    ),
                    None,
                    &methods.pool,
                ));
            }
            let (parts, body) = request.into_parts();
            let bytes = match read_body(body, &methods).await {
                Ok(bytes) => bytes,
                Err(refused) => return Ok(refused),
            };
            let message = match decode(encoding, &method.input, &bytes) {
                Ok(m) => m,
                Err(reason) => {
                    return Ok(undecodable(&reason, &methods.pool));
                }
            };
            forward(&mut inner, parts, &message, encoding, &method, &methods).await
        })
    }
}

/// Calls the gRPC method `method` below with `message` and answers in `encoding`.
async fn forward<S, R>(
    inner: &mut S,
    mut parts: http::request::Parts,
    message: &[u8],
    encoding: Encoding,
    method: &Method_,
    methods: &Methods,
) -> Result<http::Response<Body>, S::Error>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<R>>,
    R: http_body::Body<Data = Bytes>,
    R::Error: Into<tonic::codegen::StdError>,
{
    to_grpc_headers(&mut parts.headers);
    // A gRPC call is an HTTP/2 one, whatever carried the Connect call (gRPC-Web's layer below
    // refuses any other HTTP/1.1 request).
    parts.version = http::Version::HTTP_2;
    let grpc =
        http::Request::from_parts(parts, Body::new(http_body_util::Full::new(frame(message))));
    let answer = inner.call(grpc).await?;
    Ok(from_grpc(answer, encoding, &method.output, &methods.pool).await)
}

/// A CloudEvent pushed by the provincial monitoring system ([`crate::ingest`]): the command it
/// stands for, answered as a Connect JSON call of it would be.
async fn ingest<S, R>(
    inner: &mut S,
    request: http::Request<Body>,
    methods: &Methods,
) -> Result<http::Response<Body>, S::Error>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<R>>,
    R: http_body::Body<Data = Bytes>,
    R::Error: Into<tonic::codegen::StdError>,
{
    let (mut parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = match read_body(body, methods).await {
        Ok(bytes) => bytes,
        Err(refused) => return Ok(refused),
    };
    let (path, json) = match crate::ingest::translate(&content_type, &bytes) {
        Ok(t) => t,
        Err(reason) => return Ok(undecodable(&reason, &methods.pool)),
    };
    let Some(method) = methods.by_path.get(path) else {
        return Ok(error(
            tonic::Code::Internal,
            "no such method",
            None,
            &methods.pool,
        ));
    };
    let message = match decode(Encoding::Json, &method.input, &json) {
        Ok(m) => m,
        Err(reason) => return Ok(undecodable(&reason, &methods.pool)),
    };
    parts.uri = match path.parse() {
        Ok(uri) => uri,
        Err(_) => {
            return Ok(error(
                tonic::Code::Internal,
                "bad path",
                None,
                &methods.pool,
            ));
        }
    };
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    forward(inner, parts, &message, Encoding::Json, method, methods).await
}

/// A request's body, at most `max_message_bytes` of it; else the answer refusing it.
async fn read_body(body: Body, methods: &Methods) -> Result<Bytes, http::Response<Body>> {
    match http_body_util::Limited::new(body, methods.max_message_bytes)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(error(
            tonic::Code::InvalidArgument,
            &format!(
                "the request body could not be read within {} bytes: {e}",
                methods.max_message_bytes
            ),
            None,
            &methods.pool,
        )),
    }
}

/// The request's message as protobuf bytes.
fn decode(encoding: Encoding, input: &MessageDescriptor, bytes: &[u8]) -> Result<Bytes, String> {
    match encoding {
        Encoding::Proto => {
            // Checked here so that a malformed body gets the same answer as a malformed JSON one.
            DynamicMessage::decode(input.clone(), bytes).map_err(|e| e.to_string())?;
            Ok(Bytes::copy_from_slice(bytes))
        }
        Encoding::Json => {
            let body: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
            let mut de = serde_json::Deserializer::from_slice(body);
            let message =
                DynamicMessage::deserialize(input.clone(), &mut de).map_err(|e| e.to_string())?;
            de.end().map_err(|e| e.to_string())?;
            Ok(message.encode_to_vec().into())
        }
    }
}

/// One gRPC length-prefixed message.
fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 5);
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// Rewrites a Connect request's headers as its gRPC call's: the content type, the deadline, and
/// no body length (the body is now framed).
fn to_grpc_headers(headers: &mut HeaderMap) {
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("te", HeaderValue::from_static("trailers"));
    if let Some(ms) = headers
        .remove("connect-timeout-ms")
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        // gRPC's timeout takes at most 8 digits.
        .map(|ms| ms.min(99_999_999))
        && let Ok(v) = HeaderValue::from_str(&format!("{ms}m"))
    {
        headers.insert("grpc-timeout", v);
    }
    headers.remove("connect-protocol-version");
    headers.remove(http::header::ACCEPT_ENCODING);
}

/// The gRPC answer as Connect's: the message, or the error.
async fn from_grpc<R>(
    answer: http::Response<R>,
    encoding: Encoding,
    output: &MessageDescriptor,
    pool: &DescriptorPool,
) -> http::Response<Body>
where
    R: http_body::Body<Data = Bytes>,
    R::Error: Into<tonic::codegen::StdError>,
{
    let (parts, body) = answer.into_parts();
    let collected = match body.collect().await {
        Ok(c) => c,
        Err(e) => {
            return error(
                tonic::Code::Internal,
                &format!("the answer could not be read: {}", e.into()),
                None,
                pool,
            );
        }
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let mut data = collected.to_bytes();
    // A trailers-only answer carries its status in the headers.
    let status_of = |name: &str| trailers.get(name).or_else(|| parts.headers.get(name));
    let code = status_of("grpc-status")
        .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
        .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
    if code != tonic::Code::Ok {
        let message = status_of("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(percent_decode)
            .unwrap_or_default();
        let details = status_of("grpc-status-details-bin").and_then(|v| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(
                    v.as_bytes()
                        .iter()
                        .copied()
                        .filter(|b| *b != b'=')
                        .collect::<Vec<_>>(),
                )
                .ok()
        });
        let mut response = error(code, &message, details.as_deref(), pool);
        copy_metadata(&parts.headers, response.headers_mut());
        return response;
    }
    if data.len() < 5 {
        return error(
            tonic::Code::Internal,
            "the answer has no message",
            None,
            pool,
        );
    }
    data.advance(5);
    let body = match encoding {
        Encoding::Proto => data,
        Encoding::Json => match DynamicMessage::decode(output.clone(), data) {
            Ok(m) => match serde_json::to_vec(&m) {
                Ok(json) => json.into(),
                Err(e) => {
                    return error(tonic::Code::Internal, &e.to_string(), None, pool);
                }
            },
            Err(e) => return error(tonic::Code::Internal, &e.to_string(), None, pool),
        },
    };
    let mut response = http::Response::new(Body::new(http_body_util::Full::new(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    copy_metadata(&parts.headers, response.headers_mut());
    response
}

/// The custom metadata of a gRPC answer, as the Connect answer's headers.
fn copy_metadata(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if n.starts_with("grpc-") || n == "content-type" || n == "content-length" || n == "te" {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connect's name of a code.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "canceled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status Connect gives a code.
fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code::*;
    match code {
        Ok => StatusCode::OK,
        Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        InvalidArgument | FailedPrecondition | OutOfRange => StatusCode::BAD_REQUEST,
        DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        NotFound => StatusCode::NOT_FOUND,
        AlreadyExists | Aborted => StatusCode::CONFLICT,
        PermissionDenied => StatusCode::FORBIDDEN,
        ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        Unknown | Internal | DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An undecodable body: `invalid_argument` with a `BadRequest` naming the request, as the gRPC
/// surface answers one.
fn undecodable(reason: &str, pool: &DescriptorPool) -> http::Response<Body> {
    let status = tonic_types::pb::Status {
        code: tonic::Code::InvalidArgument as i32,
        message: format!("the request body is not a valid message: {reason}"),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.BadRequest".to_owned(),
            value: tonic_types::pb::BadRequest {
                field_violations: vec![tonic_types::pb::bad_request::FieldViolation {
                    field: "request".to_owned(),
                    description: reason.to_owned(),
                    ..Default::default()
                }],
            }
            .encode_to_vec(),
        }],
    };
    error(
        tonic::Code::InvalidArgument,
        &status.message,
        Some(&status.encode_to_vec()),
        pool,
    )
}

/// Connect's JSON error: the code's name, the message, and each detail of the `google.rpc.Status`
/// in `status` (encoded) with its type, its bytes and, when the type is known, its JSON.
fn error(
    code: tonic::Code,
    message: &str,
    status: Option<&[u8]>,
    pool: &DescriptorPool,
) -> http::Response<Body> {
    let mut details = Vec::new();
    if let Some(status) = status.and_then(|s| tonic_types::pb::Status::decode(s).ok()) {
        for any in status.details {
            let name = any
                .type_url
                .rsplit_once('/')
                .map_or(any.type_url.as_str(), |(_, n)| n)
                .to_owned();
            let mut detail = serde_json::json!({
                "type": name,
                "value": base64::engine::general_purpose::STANDARD_NO_PAD.encode(&any.value),
            });
            if let Some(debug) = pool
                .get_message_by_name(&name)
                .and_then(|d| DynamicMessage::decode(d, any.value.as_slice()).ok())
                .and_then(|m| {
                    m.serialize_with_options(
                        serde_json::value::Serializer,
                        &SerializeOptions::new(),
                    )
                    .ok()
                })
            {
                detail["debug"] = debug;
            }
            details.push(detail);
        }
    }
    let mut body = serde_json::json!({ "code": code_name(code), "message": message });
    if !details.is_empty() {
        body["details"] = serde_json::Value::Array(details);
    }
    let mut response = http::Response::new(Body::new(http_body_util::Full::new(Bytes::from(
        body.to_string(),
    ))));
    *response.status_mut() = http_status(code);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The CORS layer for the configured origins, or none when there are none (the server's own pages
/// need none). Each origin is a scheme, a host and an optional port, as a browser sends it.
pub fn cors(origins: &[String]) -> anyhow::Result<Option<tower_http::cors::CorsLayer>> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::with_capacity(origins.len());
    for origin in origins {
        let uri: http::Uri = origin.parse().map_err(|e| {
            anyhow::anyhow!("cors_allowed_origins: {origin:?} is not an origin: {e}")
        })?;
        let well_formed = matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some()
            && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
            && !origin.ends_with('/');
        anyhow::ensure!(
            well_formed,
            "cors_allowed_origins: {origin:?} is not an origin (a scheme, a host and an optional \
             port, as `https://portal.example.gov.vn`)"
        );
        allowed.push(HeaderValue::from_str(origin)?);
    }
    let headers = [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "connect-protocol-version",
        "connect-timeout-ms",
    ];
    let exposed = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::POST, Method::GET])
            .allow_headers(headers.map(http::HeaderName::from_static))
            .expose_headers(exposed.map(http::HeaderName::from_static))
            .max_age(std::time::Duration::from_secs(7200)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b%C3%A9"), "a bé");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn every_code_has_connects_name_and_status() {
        assert_eq!(code_name(tonic::Code::Cancelled), "canceled");
        assert_eq!(
            http_status(tonic::Code::Unauthenticated),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(http_status(tonic::Code::ResourceExhausted).as_u16(), 429);
        assert_eq!(http_status(tonic::Code::Cancelled).as_u16(), 499);
    }

    #[test]
    fn a_frame_is_the_message_behind_its_flag_and_length() {
        assert_eq!(&frame(b"ab")[..], &[0, 0, 0, 0, 2, b'a', b'b']);
    }
}

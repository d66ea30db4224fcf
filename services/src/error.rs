//! The error table: every failure of the command and query paths is mapped to a gRPC status here, once,
//! with `google.rpc` details a caller can act on. Internal details are logged, not sent.

use std::collections::HashMap;

use kcn_domain::DomainError;
use kcn_eventstore::StoreError;
use kcn_projections::ProjectionError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `google.rpc.ErrorInfo` domain of this service's errors.
pub const ERROR_DOMAIN: &str = "kcn-ledger";

/// The longest status message: it travels percent-encoded in an HTTP/2 trailer, with the details,
/// and clients cap trailers (grpc-python warns past 8 KiB).
const MAX_MESSAGE: usize = 300;

/// `INVALID_ARGUMENT` listing every malformed field (the details hold them all; the message is cut
/// to a length every client accepts).
pub fn invalid(violations: Vec<FieldViolation>) -> Status {
    let mut message = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    if message.chars().count() > MAX_MESSAGE {
        message = message.chars().take(MAX_MESSAGE).collect::<String>() + "…";
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {message}"),
        ErrorDetails::with_bad_request(violations),
    )
}

/// Maps a domain refusal to its status.
pub fn domain(e: DomainError) -> Status {
    let message = e.to_string();
    match e {
        DomainError::Invalid { field, message: m } => invalid(vec![FieldViolation::new(field, m)]),
        DomainError::NotFound { kind, id } => Status::with_error_details(
            Code::NotFound,
            message,
            ErrorDetails::with_resource_info(
                kind.as_str(),
                id.to_string(),
                "",
                "no such aggregate",
            ),
        ),
        DomainError::AlreadyExists { kind, id } => Status::with_error_details(
            Code::FailedPrecondition,
            message.clone(),
            ErrorDetails::with_precondition_failure_violation(
                "AGGREGATE_EXISTS",
                format!("{kind}/{id}"),
                message,
            ),
        ),
        DomainError::UnknownReference { field, kind, id } => Status::with_error_details(
            Code::FailedPrecondition,
            message.clone(),
            ErrorDetails::with_precondition_failure_violation(
                "UNKNOWN_REFERENCE",
                format!("{field}: {kind}/{id}"),
                message,
            ),
        ),
        DomainError::Rule { rule, message } => Status::with_error_details(
            Code::FailedPrecondition,
            message.clone(),
            ErrorDetails::with_precondition_failure_violation(rule.to_uppercase(), rule, message),
        ),
        DomainError::Forbidden { rule, message } => Status::with_error_details(
            Code::PermissionDenied,
            message,
            ErrorDetails::with_error_info(
                rule.to_uppercase(),
                ERROR_DOMAIN,
                HashMap::from([("rule".to_owned(), rule.to_owned())]),
            ),
        ),
        DomainError::Lookup(detail) => unavailable(&detail),
    }
}

fn unavailable(detail: &str) -> Status {
    tracing::warn!(detail, "store unavailable");
    Status::with_error_details(
        Code::Unavailable,
        "the ledger's store is unavailable; retry with the same request_id",
        ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1))),
    )
}

/// `INTERNAL`: a fault of the server, logged with its detail; the caller is told only that.
pub fn internal(detail: &str) -> Status {
    tracing::error!(detail, "internal error");
    Status::internal("internal error; it has been logged")
}

/// Maps a store failure to its status.
pub fn store(e: StoreError) -> Status {
    match e {
        StoreError::Domain(d) => domain(d),
        StoreError::Conflict {
            aggregate_type,
            aggregate_id,
            expected,
            actual,
        } => {
            let message = format!(
                "{aggregate_type} {aggregate_id} is at version {actual}, not the expected {expected}; \
                 read it again and decide on the fresh state"
            );
            let metadata = HashMap::from([
                ("aggregate_type".to_owned(), aggregate_type),
                ("aggregate_id".to_owned(), aggregate_id.to_string()),
                ("expected_version".to_owned(), expected.to_string()),
                ("actual_version".to_owned(), actual.to_string()),
            ]);
            Status::with_error_details(
                Code::Aborted,
                message,
                ErrorDetails::with_error_info("VERSION_CONFLICT", ERROR_DOMAIN, metadata),
            )
        }
        StoreError::RequestIdReused { request_id } => Status::with_error_details(
            Code::AlreadyExists,
            format!(
                "request_id {request_id:?} was already used for a different command; use a new request_id for a new command"
            ),
            ErrorDetails::with_error_info(
                "REQUEST_ID_REUSED",
                ERROR_DOMAIN,
                HashMap::from([("request_id".to_owned(), request_id)]),
            ),
        ),
        StoreError::EventTooLarge {
            event_type,
            size,
            limit,
        } => Status::with_error_details(
            Code::InvalidArgument,
            format!(
                "the command would record a {event_type} event of {size} bytes (payload and metadata), \
                 more than the limit of {limit} bytes; send less"
            ),
            ErrorDetails::with_error_info(
                "EVENT_TOO_LARGE",
                ERROR_DOMAIN,
                HashMap::from([
                    ("event_type".to_owned(), event_type),
                    ("size".to_owned(), size.to_string()),
                    ("limit".to_owned(), limit.to_string()),
                ]),
            ),
        ),
        StoreError::KeyTaken {
            scope,
            field,
            key,
            existing_id,
        } => Status::with_error_details(
            Code::AlreadyExists,
            format!(
                "{field} {key:?} is already registered, to {existing_id} ({scope} is unique); \
                 use that registration (the directory finds it by code) or register another code"
            ),
            ErrorDetails::with_error_info(
                "CODE_TAKEN",
                ERROR_DOMAIN,
                HashMap::from([
                    ("field".to_owned(), field),
                    ("code".to_owned(), key),
                    ("scope".to_owned(), scope),
                    ("existing_id".to_owned(), existing_id),
                ]),
            ),
        ),
        StoreError::Unavailable(detail) => unavailable(&detail),
        StoreError::Internal(detail) => internal(&detail),
    }
}

/// Maps a read-side failure to its status.
pub fn projection(e: ProjectionError) -> Status {
    match e {
        ProjectionError::NotCaughtUp { .. } => Status::with_error_details(
            Code::Unavailable,
            e.to_string(),
            ErrorDetails::with_retry_info(Some(std::time::Duration::from_millis(200))),
        ),
        ProjectionError::Stopped { ref name, .. } => Status::with_error_details(
            Code::Unavailable,
            e.to_string(),
            ErrorDetails::with_error_info(
                "READ_MODEL_STOPPED",
                ERROR_DOMAIN,
                HashMap::from([("read_model".to_owned(), name.clone())]),
            ),
        ),
        ProjectionError::BeyondHead { wanted, head } => invalid(vec![FieldViolation::new(
            "min_position",
            format!("{wanted} is beyond the log's last position, {head}"),
        )]),
        ProjectionError::Store(s) => store(s),
        ProjectionError::Apply { .. }
        | ProjectionError::UnknownModel { .. }
        | ProjectionError::RebuildStopped { .. } => internal(&e.to_string()),
    }
}

/// The starts of tonic's `INTERNAL` messages (percent-encoded, as in `grpc-message`) that describe
/// a request the caller framed or encoded wrongly.
const CALLER_FRAMING_ERRORS: &[&str] = &[
    // A body that is not the method's protobuf message.
    "failed%20to%20decode%20Protobuf%20message",
    // A message flagged compressed on a request that names no `grpc-encoding`. gRPC's compression
    // document asks for INTERNAL here; the fault is the caller's, though, and INTERNAL is kept for
    // faults of the server.
    "protocol%20error:%20received%20message%20with%20compressed-flag%20but%20no%20grpc-encoding",
    // A compressed-flag byte that is neither 0 nor 1.
    "protocol%20error:%20received%20message%20with%20invalid%20compression%20flag",
];

/// tonic's `OUT_OF_RANGE` answer to a message larger than the server decodes (`max_message_bytes`).
const TOO_LARGE: &str = "Error,%20decoded%20message%20length%20too%20large";

/// Maps tonic's `INTERNAL` answers to a request the caller got wrong (a body that is not the
/// expected protobuf message, a message flagged compressed without a `grpc-encoding`, a flag byte
/// that is neither 0 nor 1), and its `OUT_OF_RANGE` answer to a message above the size limit, to
/// `INVALID_ARGUMENT` with a `BadRequest` violation of the field
/// `request` that keeps tonic's description: the caller sent a bad argument, and `INTERNAL` is
/// kept for faults of the server. Applied to every response as a tower layer.
pub fn undecodable_is_invalid_argument<B>(mut response: http::Response<B>) -> http::Response<B> {
    const INTERNAL: &str = "13";
    const OUT_OF_RANGE: &str = "11";
    let headers = response.headers_mut();
    let message = headers.get("grpc-message").and_then(|m| m.to_str().ok());
    let framing = match headers.get("grpc-status").and_then(|s| s.to_str().ok()) {
        Some(INTERNAL) => {
            message.is_some_and(|m| CALLER_FRAMING_ERRORS.iter().any(|e| m.starts_with(e)))
        }
        Some(OUT_OF_RANGE) => message.is_some_and(|m| m.starts_with(TOO_LARGE)),
        _ => false,
    };
    if !framing {
        return response;
    }
    // tonic's own decoding errors carry no details; dropping the header keeps `from_header_map`
    // from ever reading one.
    headers.remove("grpc-status-details-bin");
    let description = Status::from_header_map(headers)
        .map(|s| s.message().to_owned())
        .unwrap_or_default();
    let mut replaced = http::HeaderMap::new();
    match invalid(vec![FieldViolation::new("request", description)]).add_header(&mut replaced) {
        Ok(()) => {
            headers.remove("grpc-message");
            headers.extend(replaced);
        }
        Err(e) => {
            // Never with the bounded message `invalid` makes; the code is corrected all the same.
            tracing::error!(error = %e, "cannot write the BadRequest details");
            headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_too_large_is_an_invalid_argument_naming_its_size_and_the_limit() {
        let status = store(StoreError::EventTooLarge {
            event_type: "TenantRegistered".to_owned(),
            size: 300_000,
            limit: 262_144,
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("300000"), "{}", status.message());
        assert!(status.message().contains("262144"), "{}", status.message());
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "EVENT_TOO_LARGE");
        assert_eq!(info.metadata["limit"], "262144");
    }
}

//! What operators see: logs (`RUST_LOG`, JSON or pretty, one line per RPC from [`rpc`]),
//! Prometheus [`metrics`], and optional OpenTelemetry traces exported over OTLP/HTTP.

pub mod metrics;
pub mod rpc;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

use crate::config::LogFormat;

/// The service name traces carry.
const SERVICE_NAME: &str = "kcn-ledger";

/// The process's logging and tracing, set up by [`init`]. Dropping it sends the spans still
/// waiting in the exporter's batch.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not send the last traces");
        }
    }
}

/// Sets up the process's logs on stderr (`RUST_LOG` filters them, `info` by default) and, with an
/// `otlp_endpoint`, the export of every span the filter lets through to that OpenTelemetry
/// collector. Without one nothing is exported, whatever `OTEL_*` variables say.
///
/// # Errors
///
/// An endpoint that is not an `http://` URL, or a logger already set.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    init_filtered(format, otlp_endpoint, "info")
}

/// [`init`] with another filter than `info` when `RUST_LOG` is unset (the demo's, which keeps the
/// store's and the read models' own records out of its terminal).
///
/// # Errors
///
/// As [`init`].
pub fn init_filtered(
    format: LogFormat,
    otlp_endpoint: Option<&str>,
    default_filter: &str,
) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = if json {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    let traces = otlp_endpoint.map(tracer_provider).transpose()?;
    let otel = traces
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(SERVICE_NAME)));
    tracing_subscriber::registry()
        .with(logs)
        .with(otel)
        .with(filter)
        .try_init()
        .context("cannot set up logging")?;
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { traces })
}

/// The URL traces are posted to: `<endpoint>/v1/traces`, the OTLP/HTTP path, unless the
/// endpoint already names a path.
fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let uri: http::Uri = endpoint
        .parse()
        .with_context(|| format!("otlp_endpoint {endpoint:?} is not a URL"))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http") && uri.authority().is_some(),
        "otlp_endpoint {endpoint:?} must be an http:// URL such as http://127.0.0.1:4318 \
         (a collector on the host or beside it; it forwards with TLS where needed)"
    );
    Ok(match uri.path() {
        "" | "/" => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
        _ => endpoint.to_owned(),
    })
}

/// A tracer provider that batches spans and posts them as OTLP protobuf over HTTP.
fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint)?)
        .build()
        .context("cannot build the OTLP trace exporter")?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_the_otlp_http_path_of_the_endpoint() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/custom/traces").unwrap(),
            "http://collector:4318/custom/traces"
        );
        assert!(traces_url("https://collector:4318").is_err());
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("not a url").is_err());
    }
}

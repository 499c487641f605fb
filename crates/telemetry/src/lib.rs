//! Logging and tracing for a Loopdesk service: structured logs (JSON by default) and
//! OpenTelemetry spans whose W3C trace context travels in HTTP and AMQP headers.

pub mod metrics;
#[cfg(feature = "testing")]
pub mod testing;

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde::Deserialize;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// How a service logs.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `json` (default, for machines) or `pretty` (for people).
    #[serde(default = "default_format")]
    pub log_format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,lapin=warn`. `RUST_LOG` wins when set.
    #[serde(default = "default_level")]
    pub log_level: String,
    /// OTLP/HTTP traces endpoint (e.g. `http://otel-collector:4318/v1/traces`); traces
    /// are exported only when set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: default_format(),
            log_level: default_level(),
            otlp_endpoint: None,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured.
    Pretty,
}

fn default_format() -> LogFormat {
    LogFormat::Json
}

fn default_level() -> String {
    "info,lapin=warn,amq_protocol=warn".to_owned()
}

/// Keeps the tracer provider alive; dropping it flushes spans.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Flushing is best effort at exit; there is nobody left to report a failure to.
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber, tracer provider and W3C propagator. Call once, at
/// start-up, from `main` (tests drive services without it).
pub fn init(service: &'static str, settings: &TelemetrySettings) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    use opentelemetry_otlp::WithExportConfig;
    let exporter = settings.otlp_endpoint.as_deref().map(|endpoint| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
    });
    let mut export_error = None;
    match exporter {
        Some(Ok(exporter)) => builder = builder.with_batch_exporter(exporter),
        Some(Err(e)) => export_error = Some(e.to_string()),
        None => {}
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // A second init (e.g. two services in one test process) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    if let Some(error) = export_error {
        tracing::warn!(%error, "the OTLP exporter could not be built; traces are not exported");
    }
    TelemetryGuard { provider }
}

/// Records the span's OpenTelemetry trace and span ids on its `trace_id` and `span_id`
/// fields (declare them `Empty`), so JSON log lines inside it carry both.
pub fn record_trace_ids(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

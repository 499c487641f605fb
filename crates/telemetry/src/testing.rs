//! Span capture for tests: the same propagator, tracer and tracing layer as [`crate::init`],
//! exporting to memory instead of OTLP, so a test can see which spans shared a trace.

use std::sync::OnceLock;

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{InMemorySpanExporter, SdkTracerProvider, SpanData},
};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

static CAPTURE: OnceLock<SpanCapture> = OnceLock::new();

/// The finished spans of this process.
#[derive(Clone)]
pub struct SpanCapture {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl SpanCapture {
    /// Every span finished so far (flushed first).
    pub fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().unwrap_or_default()
    }
}

/// Installs the capture once per process (the global subscriber can be set only once)
/// and returns it. Spans of every test running in the process land in it: filter by
/// trace id.
pub fn capture_spans() -> SpanCapture {
    CAPTURE
        .get_or_init(|| {
            global::set_text_map_propagator(TraceContextPropagator::new());
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            global::set_tracer_provider(provider.clone());
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
            let _ = tracing_subscriber::registry()
                .with(EnvFilter::new("info"))
                .with(layer)
                .try_init();
            SpanCapture { exporter, provider }
        })
        .clone()
}

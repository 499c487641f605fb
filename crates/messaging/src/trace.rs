//! Trace context across the queue: the envelope carries W3C `traceparent`/`tracestate`.

use std::collections::HashMap;

use opentelemetry::{Context, propagation::TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::envelope::Envelope;

/// Writes the current tracing span's trace context into the envelope. Leaves the
/// envelope as it is when there is no active trace.
pub fn inject_current_trace(envelope: &mut Envelope) {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    if let Some(traceparent) = carrier.remove("traceparent") {
        envelope.traceparent = Some(traceparent);
        envelope.tracestate = carrier
            .remove("tracestate")
            .filter(|state| !state.is_empty());
    }
}

/// The remote parent context the envelope carries (empty when it carries none), for
/// `span.set_parent(...)` on the span that handles the message.
pub fn extract_parent(envelope: &Envelope) -> Context {
    let mut carrier = HashMap::new();
    if let Some(traceparent) = &envelope.traceparent {
        carrier.insert("traceparent".to_owned(), traceparent.clone());
    }
    if let Some(tracestate) = &envelope.tracestate {
        carrier.insert("tracestate".to_owned(), tracestate.clone());
    }
    TraceContextPropagator::new().extract(&carrier)
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn the_current_span_travels_through_the_envelope() {
        let provider = SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            let expected = span.context().span().span_context().trace_id();

            let mut envelope = Envelope::new("ticket.create", "acme", "test");
            inject_current_trace(&mut envelope);
            let traceparent = envelope.traceparent.clone().unwrap_or_default();
            assert!(traceparent.contains(&expected.to_string()), "{traceparent}");

            let parent = extract_parent(&envelope);
            assert_eq!(parent.span().span_context().trace_id(), expected);
            assert!(parent.span().span_context().is_remote());
        });
    }

    #[test]
    fn no_trace_leaves_the_envelope_alone() {
        let mut envelope = Envelope::new("ticket.create", "acme", "test");
        inject_current_trace(&mut envelope);
        assert_eq!(envelope.traceparent, None);
        assert!(!extract_parent(&envelope).span().span_context().is_valid());
    }
}

//! Prometheus metrics (prometheus-client): ingest outcomes, live connections by transport,
//! messages sent, track → publish latency and batch sizes. `render` is `GET /metrics`.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Transport {
    Websocket,
    Sse,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: Transport,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

struct Inner {
    registry: Registry,
    ingest: Family<OutcomeLabels, Counter>,
    connections: Family<TransportLabels, Gauge>,
    messages: Family<TransportLabels, Counter>,
    latency: Histogram,
    batch: Histogram,
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pulse");
        let ingest = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "ingest_events",
            "Tracking requests by outcome (stored, duplicate, bot, invalid_payload, unknown_website, …)",
            ingest.clone(),
        );
        let connections = Family::<TransportLabels, Gauge>::default();
        registry.register("live_connections", "Open live connections by transport", connections.clone());
        let messages = Family::<TransportLabels, Counter>::default();
        registry.register("live_messages_sent", "Live messages written to clients", messages.clone());
        let latency = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        registry.register(
            "track_publish_latency_seconds",
            "From the tracking request's arrival to its broadcast after commit",
            latency.clone(),
        );
        let batch = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register("writer_batch_events", "Events per group commit", batch.clone());
        Self { inner: Arc::new(Inner { registry, ingest, connections, messages, latency, batch }) }
    }

    pub fn ingest(&self, outcome: &'static str) {
        self.inner.ingest.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn connection_opened(&self, transport: Transport) {
        self.inner.connections.get_or_create(&TransportLabels { transport }).inc();
    }

    pub fn connection_closed(&self, transport: Transport) {
        self.inner.connections.get_or_create(&TransportLabels { transport }).dec();
    }

    pub fn connections(&self, transport: Transport) -> i64 {
        self.inner.connections.get_or_create(&TransportLabels { transport }).get()
    }

    /// The sent-messages counter of one transport, for a connection to keep and bump without
    /// a label lookup per message.
    pub fn messages_counter(&self, transport: Transport) -> Counter {
        self.inner.messages.get_or_create(&TransportLabels { transport }).clone()
    }

    pub fn messages_sent(&self, transport: Transport) -> u64 {
        self.inner.messages.get_or_create(&TransportLabels { transport }).get()
    }

    pub fn publish_latency(&self, seconds: f64) {
        self.inner.latency.observe(seconds);
    }

    pub fn batch_size(&self, n: usize) {
        self.inner.batch.observe(n as f64);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

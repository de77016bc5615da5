//! `/metrics`: Prometheus text built at scrape time from the atomics the
//! tick loop, the store and the auth API keep. Nothing is locked on the
//! tick thread's side; scrapes only read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::auth::AuthMetrics;
use crate::metrics::Histogram;
use crate::store::{StoreHandle, StoreMetrics};
use crate::tick::TickMetrics;

/// Reads every source on each scrape.
#[derive(Debug)]
pub struct Exporter {
    /// Tick loop figures.
    pub tick: Arc<TickMetrics>,
    /// Store figures.
    pub store: Arc<StoreMetrics>,
    /// For the queue depth.
    pub store_handle: StoreHandle,
    /// Auth API counters.
    pub auth: Arc<AuthMetrics>,
    /// The WebSocket path's counters.
    pub ws: Arc<crate::net::websocket::WsMetrics>,
    /// Every HTTP listener's connection bounds and figures.
    pub listeners: Vec<Arc<crate::net::conn_gate::ConnGate>>,
    /// The front door's counters.
    pub front: Arc<crate::side::front::FrontMetrics>,
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn histogram(encoder: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> Result<(), std::fmt::Error> {
    let snap = h.snapshot();
    encoder.encode_descriptor(name, help, None, MetricType::Histogram)?.encode_histogram::<NoLabelSet>(
        snap.sum_secs,
        snap.count,
        &snap.buckets,
        None,
    )
}

/// Old names still exported for one release beside their replacements,
/// as exposed (`_total` included): `(old, what to use instead)`.
pub const DEPRECATED: &[(&str, &str)] = &[
    ("tickforge_handoff_longest_ms", "tickforge_handoff_longest_seconds"),
    ("tickforge_bytes_in_per_second", "rate(tickforge_datagrams_received_bytes_total[1m])"),
    ("tickforge_bytes_out_per_second", "rate(tickforge_datagrams_sent_bytes_total[1m])"),
    ("tickforge_datagram_bytes_received_total", "tickforge_datagrams_received_bytes_total"),
    ("tickforge_datagram_bytes_sent_total", "tickforge_datagrams_sent_bytes_total"),
    ("tickforge_logins_ok_total", "tickforge_logins_total{outcome=\"ok\"}"),
    ("tickforge_logins_failed_total", "tickforge_logins_total{outcome=\"failed\"}"),
    ("tickforge_logins_locked_total", "tickforge_logins_total{outcome=\"locked\"}"),
    ("tickforge_logins_no_room_total", "tickforge_logins_total{outcome=\"no_room\"}"),
    ("tickforge_ws_refused_origin_total", "tickforge_ws_refused_total{reason=\"origin\"}"),
    ("tickforge_ws_refused_busy_total", "tickforge_ws_refused_total{reason=\"busy\"}"),
    ("tickforge_ws_closed_bad_total", "tickforge_ws_closed_total{reason=\"bad\"}"),
    ("tickforge_ws_closed_idle_total", "tickforge_ws_closed_total{reason=\"idle\"}"),
    ("tickforge_ws_closed_flood_total", "tickforge_ws_closed_total{reason=\"flood\"}"),
    ("tickforge_ws_dropped_slow_total", "tickforge_ws_closed_total{reason=\"slow\"}"),
];

/// A deprecated name's sample: `name` as exposed (a counter's with its
/// `_total`), its help pointing at the replacement in [`DEPRECATED`].
fn deprecated(encoder: &mut DescriptorEncoder, name: &str, value: f64) -> Result<(), std::fmt::Error> {
    let instead = DEPRECATED.iter().find(|(old, _)| *old == name).map_or("", |(_, new)| new);
    let help = format!("Deprecated: use {instead}; removed in the next release.");
    match name.strip_suffix("_total") {
        Some(base) => counter(encoder, base, &help, value as u64),
        None => gauge(encoder, name, &help, value),
    }
}

/// A family of one metric type: one sample per label set.
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(&[(&str, &str)], u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        match kind {
            MetricType::Gauge => ConstGauge::new(*value as f64).encode(family.encode_family(labels)?)?,
            _ => ConstCounter::new(*value).encode(family.encode_family(labels)?)?,
        }
    }
    Ok(())
}

impl Exporter {
    /// The HTTP listeners' connections, refusals and closes, by listener
    /// (`auth`, `admin`, `websocket`) and reason.
    fn encode_listeners(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let names: Vec<[(&str, &str); 1]> = self.listeners.iter().map(|g| [("listener", g.name())]).collect();
        let by = |f: &dyn Fn(&crate::net::conn_gate::ListenerMetrics) -> u64| -> Vec<(&[(&str, &str)], u64)> {
            names.iter().zip(&self.listeners).map(|(n, g)| (&n[..], f(g.metrics()))).collect()
        };
        let open = by(&|m| load(&m.open));
        family(e, "tickforge_http_connections", "HTTP connections open, by listener.", MetricType::Gauge, &open)?;
        let limits: Vec<_> =
            names.iter().zip(&self.listeners).map(|(n, g)| (&n[..], g.limits().total as u64)).collect();
        family(
            e,
            "tickforge_http_connections_limit",
            "Connections a listener holds at most.",
            MetricType::Gauge,
            &limits,
        )?;
        let accepted = by(&|m| load(&m.accepted));
        family(e, "tickforge_http_connections_accepted", "HTTP connections taken.", MetricType::Counter, &accepted)?;
        let by_reason = |reasons: [&'static str; 2],
                         count: &dyn Fn(&crate::net::conn_gate::ListenerMetrics) -> [u64; 2]|
         -> Vec<([(&str, &str); 2], u64)> {
            self.listeners
                .iter()
                .flat_map(|g| {
                    let counts = count(g.metrics());
                    reasons.into_iter().zip(counts).map(|(r, n)| ([("listener", g.name()), ("reason", r)], n))
                })
                .collect()
        };
        let refused = by_reason(["full", "address"], &|m| [load(&m.refused_full), load(&m.refused_address)]);
        let refused: Vec<(&[(&str, &str)], u64)> = refused.iter().map(|(l, n)| (&l[..], *n)).collect();
        family(
            e,
            "tickforge_http_connections_refused",
            "Connections closed at once: the listener was full, or their address held its bound.",
            MetricType::Counter,
            &refused,
        )?;
        let closed = by_reason(["header_timeout", "idle"], &|m| [load(&m.closed_header_timeout), load(&m.closed_idle)]);
        let closed: Vec<(&[(&str, &str)], u64)> = closed.iter().map(|(l, n)| (&l[..], *n)).collect();
        family(
            e,
            "tickforge_http_connections_closed",
            "Connections closed by a timeout: a request head not whole in time, or idle between requests.",
            MetricType::Counter,
            &closed,
        )?;
        counter(
            e,
            "tickforge_http_requests_refused_in_flight",
            "Requests answered 429: their client address had as many in flight as it may.",
            load(&self.front.refused_in_flight),
        )?;
        counter(
            e,
            "tickforge_http_requests_timed_out",
            "Requests answered 503 because they took longer than the request deadline.",
            load(&self.front.timed_out),
        )
    }
}

/// One counter per netcode refusal reason, labelled `reason`.
fn encode_by_reason(
    mut family: prometheus_client::encoding::MetricEncoder<'_>,
    counts: &[std::sync::atomic::AtomicU64],
) -> Result<(), std::fmt::Error> {
    for (reason, count) in tickforge_netcode::Refused::ALL.iter().zip(counts) {
        let labels = [("reason", reason.name())];
        ConstCounter::new(count.load(Ordering::Relaxed)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One counter family with one label: a sample per `(value, count)`.
fn by_label(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let labels: Vec<[(&str, &str); 1]> = samples.iter().map(|(value, _)| [(label, *value)]).collect();
    let samples: Vec<(&[(&str, &str)], u64)> = labels.iter().zip(samples).map(|(l, (_, n))| (&l[..], *n)).collect();
    family(encoder, name, help, MetricType::Counter, &samples)
}

/// The `process_*` figures, where the system has them.
fn encode_process(e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(p) = super::process::ProcessStats::read() else { return Ok(()) };
    let cpu = ConstCounter::new(p.cpu_seconds);
    cpu.encode(e.encode_descriptor(
        "process_cpu_seconds",
        "User and system CPU time spent, in seconds.",
        None,
        cpu.metric_type(),
    )?)?;
    gauge(e, "process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes as f64)?;
    gauge(e, "process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes as f64)?;
    gauge(e, "process_open_fds", "Open file descriptors.", p.open_fds as f64)?;
    gauge(e, "process_max_fds", "The open-file limit.", p.max_fds as f64)?;
    gauge(e, "process_threads", "Threads of the process.", p.threads as f64)?;
    gauge(
        e,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        p.start_time_seconds,
    )
}

impl Collector for Exporter {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.tick;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        histogram(&mut e, "tickforge_tick_duration_seconds", "Time spent running one tick.", &t.durations)?;
        counter(&mut e, "tickforge_ticks", "Ticks run.", load(&t.ticks))?;
        counter(&mut e, "tickforge_tick_overruns", "Ticks whose work ran past the next deadline.", load(&t.overruns))?;
        counter(&mut e, "tickforge_ticks_skipped", "Ticks skipped after falling too far behind.", load(&t.skipped))?;
        gauge(&mut e, "tickforge_players", "Connected players.", load(&t.players) as f64)?;
        gauge(&mut e, "tickforge_entities", "Replicated entities in the world.", load(&t.entities) as f64)?;
        deprecated(&mut e, "tickforge_bytes_in_per_second", load(&t.bytes_in_per_s) as f64)?;
        deprecated(&mut e, "tickforge_bytes_out_per_second", load(&t.bytes_out_per_s) as f64)?;
        counter(&mut e, "tickforge_malformed_messages", "Client messages and payloads refused.", load(&t.malformed))?;
        counter(
            &mut e,
            "tickforge_reliable_messages_sent",
            "Reliable messages queued, once per recipient (chat relays, notices, joins).",
            load(&t.reliable_sent),
        )?;
        counter(
            &mut e,
            "tickforge_out_of_phase_messages",
            "Client messages refused for their channel or connection phase.",
            load(&t.out_of_phase),
        )?;
        counter(
            &mut e,
            "tickforge_bad_datagrams",
            "Datagrams the netcode layer ignored (malformed, forged, replayed, out of phase).",
            load(&t.bad_datagrams),
        )?;
        counter(
            &mut e,
            "tickforge_bad_payloads",
            "Decrypted payloads refused by the payload check.",
            load(&t.bad_payloads),
        )?;
        counter(
            &mut e,
            "tickforge_datagrams_over_budget",
            "Datagrams left for a later tick by the receive budget.",
            load(&t.over_budget),
        )?;
        counter(
            &mut e,
            "tickforge_datagrams_received",
            "Datagrams read from players (UDP and WebSocket).",
            load(&t.datagrams_in),
        )?;
        counter(
            &mut e,
            "tickforge_datagrams_received_bytes",
            "Bytes of the datagrams read (netcode packets, without UDP or WebSocket headers).",
            load(&t.datagram_bytes_in),
        )?;
        deprecated(&mut e, "tickforge_datagram_bytes_received_total", load(&t.datagram_bytes_in) as f64)?;
        counter(&mut e, "tickforge_datagrams_sent", "Datagrams sent to players.", load(&t.datagrams_out))?;
        counter(
            &mut e,
            "tickforge_datagrams_sent_bytes",
            "Bytes of the datagrams sent (netcode packets, without UDP or WebSocket headers).",
            load(&t.datagram_bytes_out),
        )?;
        deprecated(&mut e, "tickforge_datagram_bytes_sent_total", load(&t.datagram_bytes_out) as f64)?;
        gauge(&mut e, "tickforge_ws_players", "Players connected over WebSocket.", load(&t.ws_players) as f64)?;
        let ws = &self.ws;
        gauge(&mut e, "tickforge_ws_links", "WebSocket links open.", load(&ws.open) as f64)?;
        counter(&mut e, "tickforge_ws_links_opened", "WebSocket links opened.", load(&ws.opened))?;
        let refused = [("origin", load(&ws.refused_origin)), ("busy", load(&ws.refused_busy))];
        by_label(
            &mut e,
            "tickforge_ws_refused",
            "WebSocket upgrades refused: for their page's origin, or because too many links were open.",
            "reason",
            &refused,
        )?;
        let closed = [
            ("bad", load(&ws.closed_bad)),
            ("idle", load(&ws.closed_idle)),
            ("flood", load(&ws.closed_flood)),
            ("slow", load(&ws.dropped_slow)),
        ];
        by_label(
            &mut e,
            "tickforge_ws_closed",
            "WebSocket links closed by the server: a text, oversized or malformed message (bad), silence or no \
             handshake in time (idle), sending too much (flood), not reading what was sent (slow).",
            "reason",
            &closed,
        )?;
        for (reason, n) in refused {
            deprecated(&mut e, &format!("tickforge_ws_refused_{reason}_total"), n as f64)?;
        }
        for (reason, n) in closed {
            let old = if reason == "slow" {
                "tickforge_ws_dropped_slow_total".to_owned()
            } else {
                format!("tickforge_ws_closed_{reason}_total")
            };
            deprecated(&mut e, &old, n as f64)?;
        }
        let refused = e.encode_descriptor(
            "tickforge_handshake_refused",
            "Connection requests and challenge responses left unanswered, by reason.",
            None,
            MetricType::Counter,
        )?;
        encode_by_reason(refused, &t.handshake_refused)?;
        counter(
            &mut e,
            "tickforge_connections_replaced",
            "Connections replaced by a newer connection of the same account.",
            load(&t.connections_replaced),
        )?;
        counter(
            &mut e,
            "tickforge_chat_dropped",
            "Chat lines dropped by the per-player chat limit.",
            load(&t.chat_dropped),
        )?;
        counter(
            &mut e,
            "tickforge_chat_relayed",
            "Cluster chat lines delivered, in order, to this server's players.",
            load(&t.chat_relayed),
        )?;
        counter(
            &mut e,
            "tickforge_chat_skipped",
            "Cluster chat lines gone from the database before this server read them.",
            load(&t.chat_skipped),
        )?;
        counter(
            &mut e,
            "tickforge_chat_resent",
            "Chat lines said again after a reconnect that the database already had (taken once).",
            load(&t.chat_resent),
        )?;
        counter(&mut e, "tickforge_handoffs", "Players handed over to another server.", load(&t.handoffs))?;
        counter(
            &mut e,
            "tickforge_handoffs_abandoned",
            "Handed-over players whose client never left (dropped at the deadline; nothing lost).",
            load(&t.handoffs_abandoned),
        )?;
        gauge(
            &mut e,
            "tickforge_handoff_longest_seconds",
            "Longest handoff so far, from the freeze to the client leaving.",
            load(&t.handoff_longest_ms) as f64 / 1000.0,
        )?;
        deprecated(&mut e, "tickforge_handoff_longest_ms", load(&t.handoff_longest_ms) as f64)?;
        let a = &self.auth;
        let logins = [
            ("ok", load(&a.logins_ok)),
            ("failed", load(&a.logins_failed)),
            ("locked", load(&a.logins_locked)),
            ("no_room", load(&a.no_room)),
        ];
        by_label(
            &mut e,
            "tickforge_logins",
            "Logins by outcome: ok, failed (bad credentials), locked (refused during a lockout), no_room \
             (answered 503: no game server had room).",
            "outcome",
            &logins,
        )?;
        for (outcome, n) in logins {
            deprecated(&mut e, &format!("tickforge_logins_{outcome}_total"), n as f64)?;
        }
        counter(&mut e, "tickforge_registrations", "Accounts created.", load(&a.registrations))?;
        counter(
            &mut e,
            "tickforge_registrations_limited",
            "Registrations answered 429: the address made too many accounts.",
            load(&a.registrations_limited),
        )?;
        self.encode_listeners(&mut e)?;
        counter(&mut e, "tickforge_http_busy", "Requests answered 503 because a queue was full.", load(&a.busy))?;
        histogram(&mut e, "tickforge_placement_seconds", "Director placement time per login.", &a.placement)?;
        let s = &self.store;
        gauge(
            &mut e,
            "tickforge_store_queue_depth",
            "Commands waiting for the store thread.",
            self.store_handle.queue_depth() as f64,
        )?;
        histogram(&mut e, "tickforge_store_commit_seconds", "Store transaction latency.", &s.commit_latency)?;
        counter(&mut e, "tickforge_store_commits", "Store transactions committed.", load(&s.commits))?;
        counter(&mut e, "tickforge_store_errors", "Store transactions that failed.", load(&s.errors))?;
        counter(&mut e, "tickforge_store_retries", "Writes kept for retry after a failure.", load(&s.retries))?;
        counter(
            &mut e,
            "tickforge_store_fenced",
            "Player-state writes the database refused: the lease had moved to another server.",
            load(&s.fenced),
        )?;
        counter(
            &mut e,
            "tickforge_store_backpressure",
            "Ticks that found the store queue full and kept writes for later.",
            load(&t.store_backpressure),
        )?;
        counter(
            &mut e,
            "tickforge_store_outages",
            "Database outages the writer saw end (writes failing, then committing again).",
            load(&s.outages),
        )?;
        gauge(
            &mut e,
            "tickforge_store_last_outage_seconds",
            "The last outage, from the first failed write to the first committed one.",
            load(&s.last_outage_ms) as f64 / 1000.0,
        )?;
        counter(
            &mut e,
            "tickforge_store_deadline_exceeded",
            "Requests answered 503 because the store did not answer within its deadline.",
            load(&s.deadline_exceeded),
        )?;
        counter(
            &mut e,
            "tickforge_access_log_pruned",
            "Access-log rows deleted for their age (--access-log-days).",
            load(&s.access_log_pruned),
        )?;
        if let Some(health) = self.store_handle.database_health() {
            let flag = |b: bool| if b { 1.0 } else { 0.0 };
            gauge(&mut e, "tickforge_database_reachable", "The primary answers the watch.", flag(health.reachable))?;
            gauge(
                &mut e,
                "tickforge_database_synchronous",
                "Commits wait for a synchronous standby.",
                flag(health.synchronous),
            )?;
            gauge(
                &mut e,
                "tickforge_database_degraded",
                "Standbys are wanted and none streams synchronously: commits live on the primary alone.",
                flag(health.degraded),
            )?;
            gauge(
                &mut e,
                "tickforge_database_replicated",
                "A standby streams from the primary.",
                flag(health.replicated),
            )?;
            gauge(
                &mut e,
                "tickforge_database_stalled",
                "Commits wait for a synchronous standby that does not stream: they wait until one does.",
                flag(health.stalled),
            )?;
            gauge(
                &mut e,
                "tickforge_database_commits_waiting",
                "Commits waiting on the primary for a standby to confirm them.",
                health.commits_waiting as f64,
            )?;
            gauge(
                &mut e,
                "tickforge_database_standbys",
                "Standbys streaming from the primary.",
                health.standbys.iter().filter(|s| s.state == "streaming").count() as f64,
            )?;
            gauge(
                &mut e,
                "tickforge_database_replication_lag_bytes",
                "The largest replay lag among the standbys.",
                health.max_lag_bytes() as f64,
            )?;
        }
        gauge(
            &mut e,
            "tickforge_tick_outbox_len",
            "Writes waiting in the tick loop's outbox.",
            load(&t.outbox_len) as f64,
        )?;
        let build = [("version", env!("CARGO_PKG_VERSION")), ("commit", env!("TICKFORGE_COMMIT"))];
        family(
            &mut e,
            "tickforge_build_info",
            "The build this server runs: its version and commit (always 1).",
            MetricType::Gauge,
            &[(&build[..], 1)],
        )?;
        encode_process(&mut e)
    }
}

/// A registry holding just the exporter.
pub fn registry(exporter: Exporter) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(exporter));
    registry
}

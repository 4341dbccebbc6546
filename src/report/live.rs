//! The live tap's records (`"schema": "wspulse.live/1"`, described by
//! `schema/live.schema.json`): besides analyze's `header`, `connection`
//! and `summary` lines, a `verdict` record per verdict change and a
//! periodic `stats` record. Field names are a contract, as in findings.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::Address;
use super::reasons::ReasonJson;
use crate::capture::KernelStats;
use crate::liveness::Verdict;
use crate::tcp::table::{Limits, TableStats};
use crate::time::{Span, Timestamp};

/// The `schema` of the live tap's NDJSON header.
pub const LIVE_SCHEMA: &str = "wspulse.live/1";

/// What the live header adds to analyze's: where packets come from and
/// how often they are judged.
#[derive(Clone, Debug, Serialize)]
pub struct LiveHead {
    /// `interface` (libpcap) or `stream` (`-r`: a capture being written).
    pub source: &'static str,
    /// `-i`'s interface; null for a stream.
    pub interface: Option<String>,
    /// The tcpdump filter expression, if any.
    pub filter: Option<String>,
    /// `-s` and `-B` (bytes), for an interface.
    pub snaplen: Option<u32>,
    pub buffer_size: Option<u32>,
    pub limits: Limits,
    /// `--interval` and `--stats-interval`, seconds.
    #[serde(serialize_with = "secs")]
    pub interval_s: Span,
    #[serde(serialize_with = "secs")]
    pub stats_interval_s: Span,
    /// The wall clock when the tap started.
    pub started_at: Timestamp,
}

fn secs<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(span.secs_f64())
}

/// Which connection a record is about: its id (as in `connection` lines)
/// and endpoints.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ConnectionRef {
    /// As in the `connection` record: connections counted from 1 in the
    /// order of their first packet.
    pub id: u64,
    pub client: Address,
    pub server: Address,
}

/// A connection's verdict changed (`"type": "verdict"`). `at` is the
/// instant judged: the tick that first saw the change, or, for a
/// connection that retired, the instant it was judged at. A connection
/// starts `alive`: its first record says what it became.
#[derive(Clone, Debug, Serialize)]
pub struct VerdictRecord {
    pub at: Timestamp,
    pub connection: ConnectionRef,
    /// The verdict last reported, and the new one.
    pub from: Verdict,
    pub to: Verdict,
    /// The reasons that hold at `at`, as in the findings.
    pub reasons: Vec<ReasonJson>,
}

/// A limit that was reached: its value and how often it acted.
#[derive(Clone, Debug, Serialize)]
pub struct LimitHit {
    /// The limit's value, in its flag's unit (a count, bytes, seconds).
    pub limit: serde_json::Value,
    /// How often it acted.
    pub count: u64,
}

/// How the tap is doing (`"type": "stats"`), every stats interval and
/// when it stops. Counters are totals since it started.
#[derive(Clone, Debug, Serialize)]
pub struct StatsRecord {
    /// The tick it was written at, on the capture clock.
    pub at: Timestamp,
    /// Packets read from the source (before the filter expression, for -r).
    pub packets: u64,
    /// Packets per second of capture time since the previous record.
    pub packets_per_s: f64,
    /// Bytes of those packets on the wire.
    pub bytes: u64,
    /// TCP connections tracked now, and since the start.
    pub connections_open: u64,
    pub connections_total: u64,
    /// Connections that ended (closed, aborted, idle) and were reported
    /// and freed.
    pub retired: u64,
    /// WebSocket connections open now, by verdict (every verdict present).
    pub verdicts: BTreeMap<&'static str, u64>,
    /// libpcap's counters; null for a stream read with `-r`.
    pub capture: Option<KernelStats>,
    /// Resident memory of the process (null where it cannot be read).
    pub rss_bytes: Option<u64>,
    /// Every limit reached so far, by its flag's name: `max_flows`
    /// (connections not tracked), `max_ooo_bytes` (out-of-order holes
    /// skipped), `max_ooo_total` (peak of the shared out-of-order budget),
    /// `flow_timeout` (connections retired idle), `queue` (times packets
    /// waited because judging fell behind, in batches).
    pub limits_hit: BTreeMap<&'static str, LimitHit>,
}

/// The limits the run reached, for a `stats` record. `queue` is the bound
/// of the packet queue and how often the reader waited on it.
pub fn limits_hit(
    limits: &Limits,
    table: &TableStats,
    queue: (usize, u64),
) -> BTreeMap<&'static str, LimitHit> {
    let mut hits = BTreeMap::new();
    let mut hit = |name, limit: serde_json::Value, count: u64| {
        if count > 0 {
            hits.insert(name, LimitHit { limit, count });
        }
    };
    hit("max_flows", limits.max_flows.into(), table.flows_refused);
    hit(
        "max_ooo_bytes",
        limits.max_ooo_bytes_per_direction.into(),
        table.ooo_overflows,
    );
    let total = limits.max_ooo_bytes_total;
    hit(
        "max_ooo_total",
        total.into(),
        if table.ooo_peak_bytes >= total {
            table.ooo_peak_bytes
        } else {
            0
        },
    );
    hit(
        "flow_timeout",
        limits.idle_timeout.secs_f64().into(),
        table.idle_evictions,
    );
    hit("queue", queue.0.into(), queue.1);
    hits
}

/// The sentence stderr and the report give when the kernel dropped
/// packets: drops are not per connection, so every finding of that period
/// may be incomplete.
pub fn drop_warning(k: &KernelStats) -> Option<String> {
    (k.dropped > 0 || k.if_dropped > 0).then(|| {
        format!(
            "the capture lost packets (libpcap: {} received, {} dropped for want of buffer, {} \
             dropped by the interface): findings of that period may be incomplete; -B raises \
             the buffer, a filter expression narrows what is captured",
            k.received, k.dropped, k.if_dropped
        )
    })
}

/// The process's resident memory, from /proc (Linux); `None` elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_limits_that_acted_are_listed() {
        let limits = Limits::default();
        let mut table = TableStats::default();
        assert!(limits_hit(&limits, &table, (64, 0)).is_empty());
        table.flows_refused = 3;
        table.idle_evictions = 2;
        let hits = limits_hit(&limits, &table, (64, 5));
        assert_eq!(
            serde_json::to_value(&hits).unwrap(),
            serde_json::json!({
                "max_flows": {"limit": 1_000_000, "count": 3},
                "flow_timeout": {"limit": 3600.0, "count": 2},
                "queue": {"limit": 64, "count": 5},
            })
        );
    }

    #[test]
    fn drops_are_said_only_when_there_are_some() {
        assert_eq!(drop_warning(&KernelStats::default()), None);
        let k = KernelStats {
            received: 100,
            dropped: 7,
            if_dropped: 0,
        };
        let w = drop_warning(&k).unwrap();
        assert!(
            w.contains("7 dropped") && w.contains("may be incomplete"),
            "{w}"
        );
    }
}

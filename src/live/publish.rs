//! `--metrics ADDR`: each tick's counts become the Prometheus snapshot the
//! [`MetricsServer`] serves, with the reasons holding on open connections
//! and how long judging took.

use std::collections::BTreeMap;
use std::time::Duration;

use super::metrics::{MetricsServer, MetricsSnapshot};
use crate::liveness::Reason;
use crate::report::live::StatsRecord;

/// The server and what a snapshot needs beyond a `stats` record.
pub struct Publisher {
    server: MetricsServer,
    /// Reasons holding at the current tick, by (code, side).
    reasons: BTreeMap<(&'static str, &'static str), u64>,
    judge_last: f64,
    judge_total: f64,
    runs: u64,
}

impl Publisher {
    /// Binds `addr` and starts serving (an empty snapshot until the first
    /// tick). Errors: the address cannot be bound (one line, naming it).
    pub fn start(addr: std::net::SocketAddr) -> Result<Publisher, String> {
        let server = MetricsServer::start(&addr.to_string())?;
        Ok(Publisher {
            server,
            reasons: BTreeMap::new(),
            judge_last: 0.0,
            judge_total: 0.0,
            runs: 0,
        })
    }

    /// A tick begins: the reasons of the previous one no longer hold.
    pub fn begin_tick(&mut self) {
        self.reasons.values_mut().for_each(|n| *n = 0);
    }

    /// The reasons of one open connection that is not `alive` (an `alive`
    /// one has none), at this tick.
    pub fn reasons(&mut self, reasons: &[Reason]) {
        for r in reasons {
            let side = r.side.map_or("", |s| s.name());
            *self.reasons.entry((r.code.name(), side)).or_default() += 1;
        }
    }

    /// A tick ended after judging for `took`: the snapshot is replaced.
    pub fn end_tick(&mut self, took: Duration, stats: &StatsRecord) {
        self.judge_last = took.as_secs_f64();
        self.judge_total += self.judge_last;
        self.runs += 1;
        let kernel = stats.capture.unwrap_or_default();
        let snapshot = MetricsSnapshot {
            connections_by_verdict: stats.verdicts.iter().map(|(v, n)| (*v, *n)).collect(),
            reasons_by_code: self
                .reasons
                .iter()
                .map(|(&(code, side), &n)| (code, side, n))
                .collect(),
            packets_total: stats.packets,
            bytes_total: stats.bytes,
            connections_total: stats.connections_total,
            retired_total: stats.retired,
            kernel_received: kernel.received,
            kernel_dropped: kernel.dropped,
            kernel_if_dropped: kernel.if_dropped,
            judge_seconds_last: self.judge_last,
            judge_seconds_total: self.judge_total,
            judge_runs_total: self.runs,
        };
        self.server.update(&snapshot);
    }
}

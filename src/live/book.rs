//! What a live run writes about its connections, apart from the flow
//! table so the table can hand connections to it: each verdict change, a
//! retiring connection's last judgement and record, the summary's counts,
//! `--fail-on`, and (with `--extract`, `--redact`) what is saved and how
//! hosts are named.

use super::extracting::Extractor;
use super::output::Output;
use crate::liveness::{Verdict, VerdictSet};
use crate::pipeline::{Judging, Tracked};
use crate::report::findings::{judged_at, ConnectionFindings, Summary};
use crate::report::live::{ConnectionRef, VerdictRecord};
use crate::secret::pseudonym::Pseudonyms;
use crate::tcp::{Retired, Retirement};
use crate::time::Timestamp;

/// Everything a retiring connection is written with; apart from the
/// flow table, so the table can hand connections to it.
pub(super) struct Book<'a> {
    pub(super) judging: &'a Judging,
    pub(super) out: Output,
    pub(super) summary: Summary,
    pub(super) retired: u64,
    pub(super) fail_on: Option<VerdictSet>,
    pub(super) failed: bool,
    /// The first error writing the output: the run stops on it.
    pub(super) error: Option<String>,
    /// `--extract`: keeps the packets of connections that leave `alive`.
    pub(super) extractor: Option<Extractor>,
    /// `--redact`: the run's address pseudonyms.
    pub(super) pseudonyms: Option<Pseudonyms>,
}

impl Book<'_> {
    pub(super) fn check(&mut self, result: Result<(), String>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }

    pub(super) fn saw(&mut self, verdict: Verdict) {
        if self.fail_on.is_some_and(|set| set.contains(verdict)) {
            self.failed = true;
        }
    }

    pub(super) fn change(&mut self, mut record: VerdictRecord) {
        if let Some(p) = &mut self.pseudonyms {
            let c = &mut record.connection;
            (c.client.ip, c.server.ip) = (p.of(c.client.ip), p.of(c.server.ip));
        }
        self.saw(record.to);
        let result = self.out.verdict(&record);
        self.check(result);
    }

    /// A connection leaving the table: judged a last time (at its end if
    /// it ended), its change if any, then its `connection` record.
    pub(super) fn retire(&mut self, mut r: Retired<Tracked>) {
        let (client, server) = (r.conn.client, r.conn.server);
        if let Some(p) = &mut self.pseudonyms {
            r.conn.client.0 = p.of(client.0);
            r.conn.server.0 = p.of(server.0);
            r.conn.tunnel = None;
        }
        let (at, verdict) = self.record(&r);
        if let Some(x) = &mut self.extractor {
            let mut result = Ok(());
            if verdict.is_some_and(|v| v != Verdict::Alive) {
                result = x.flag(r.id, client, server);
            }
            let result = result.and(x.retire(client, server, at));
            self.check(result);
        }
    }

    /// Judges and writes `r` (its addresses already as the report shows
    /// them); returns when it was judged, and its verdict if judged.
    fn record(&mut self, r: &Retired<Tracked>) -> (Timestamp, Option<Verdict>) {
        let session = &r.conn.observer.session;
        if r.cause != Retirement::Open {
            self.retired += 1;
        }
        if !session.is_judged() {
            self.summary.count(session, None, r.conn.server.1);
            return (r.at.at, None);
        }
        let retired = (r.cause != Retirement::Open).then_some(r.cause);
        let at = judged_at(&r.conn.observer.judge, retired, r.at);
        let c = ConnectionFindings::new(r.id, &r.conn, at, retired, &self.judging.redact);
        let from = r.conn.observer.reported;
        if c.judged.verdict != from {
            self.change(VerdictRecord {
                at,
                connection: ConnectionRef {
                    id: c.id,
                    client: c.client,
                    server: c.server,
                },
                from,
                to: c.judged.verdict,
                reasons: c.judged.reasons.clone(),
            });
        }
        self.saw(c.judged.verdict);
        self.summary
            .count(session, Some(c.judged.verdict), r.conn.server.1);
        let verdict = c.judged.verdict;
        let result = self.out.connection(&c, retired.is_some());
        self.check(result);
        (at, Some(verdict))
    }
}

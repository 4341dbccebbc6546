//! What `analyze` says beside its report, in words: limits hit, clock
//! steps, the inputs' order and damage, a `--tls-port` that did not fit,
//! an `explain` id that names nothing.

use crate::pipeline;
use crate::report::findings::Summary;
use crate::report::{self, table};

/// What stderr should say beside the report: limits hit, clock steps,
/// times no clock holds, and how old the capture is when judged `now`.
pub(crate) fn notes(capture: &report::model::CaptureInfo, pass: &pipeline::Pass) -> Vec<String> {
    let mut out = input_notes(pass);
    out.extend(table::limits_hit(capture));
    for s in &pass.capture.clock_steps {
        out.push(format!(
            "the capture clock went backwards by {:.3}s at frame {} of {}: later packets are re-based so intervals stay as on the wire",
            s.back_s,
            s.frame,
            pass.capture.files
                .get(s.file as usize)
                .map_or("?", |f| f.path.as_str())
        ));
    }
    if pass.capture.clock_step_count > pass.capture.clock_steps.len() as u64 {
        out.push(format!(
            "{} more clock steps not listed",
            pass.capture.clock_step_count - pass.capture.clock_steps.len() as u64
        ));
    }
    if pass.unrepresentable_times > 0 {
        out.push(format!(
            "{} packets carry times outside 1677-2262; each took the previous packet's time",
            pass.unrepresentable_times
        ));
    }
    if let ("now", Some(now), Some(last)) = (
        pass.capture.evaluation_basis,
        pass.capture.evaluation_time,
        pass.capture.last_packet,
    ) {
        out.push(format!(
            "judged at the wall clock ({now}), {} after the capture's last packet",
            now.since(last)
        ));
    }
    out
}

/// What the inputs themselves call for, beyond damage: the order they
/// were read in, and link types not decoded. Said on stderr and in the
/// report's `warnings`; they do not change the exit status.
pub(crate) fn input_notes(pass: &pipeline::Pass) -> Vec<String> {
    let mut out = pass.input_notes.clone();
    out.extend(pass.capture.link_type_warnings());
    out
}

/// The report's `warnings`: damaged inputs, then [`input_notes`].
pub(crate) fn report_warnings(pass: &pipeline::Pass) -> Vec<String> {
    let damage = pass.warnings.iter().map(|w| w.to_string());
    damage.chain(input_notes(pass)).collect()
}

/// `--tls-port` named a port whose connections began with plain HTTP:
/// they were decoded as WebSocket, and the user should know the option
/// does not fit (one warning per port, with how many connections).
pub(crate) fn plain_on_tls_port_warnings(
    ports: &std::collections::BTreeMap<u16, usize>,
) -> Vec<String> {
    ports
        .iter()
        .map(|(port, n)| {
            format!(
                "--tls-port {port}: {n} connection{} on it began with plain HTTP, not TLS; decoded as WebSocket",
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect()
}

/// `explain ID` named no judged WebSocket connection: say how many there
/// are, and where the ids come from.
pub(crate) fn no_such_connection(id: u64, summary: &Summary) -> String {
    format!(
        "no WebSocket connection #{id} in this capture ({} judged; the ids are the table's # and the JSON id, counted over the same files whatever --port/--host select)",
        summary.connections
    )
}

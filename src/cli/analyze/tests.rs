//! The analyze and explain command lines: what is accepted, and what is
//! refused with which reason.
use super::super::{from_cli, Cli};
use super::*;
use crate::liveness::Verdict;
use crate::time::parse_rfc3339;
use clap::Parser;

fn analyze(args: &[&str]) -> Result<AnalyzeConfig, clap::Error> {
    let argv = ["wspulse", "analyze"].iter().chain(args).chain(&["x.pcap"]);
    match from_cli(Cli::try_parse_from(argv)?) {
        Ok(Command::Analyze(config)) => Ok(*config),
        Err(e) => panic!("refused: {e}"),
        _ => panic!("not an analyze config"),
    }
}

fn at(value: &str) -> Result<At, String> {
    analyze(&[&format!("--at={value}")])
        .map(|c| c.at)
        .map_err(|e| {
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        })
}

#[test]
fn at_defaults_to_end() {
    let config = analyze(&[]).unwrap();
    assert_eq!(config.at, At::End);
}

#[test]
fn at_takes_words_instants_and_offsets() {
    assert_eq!(at("end"), Ok(At::End));
    assert_eq!(at("last-packet"), Ok(At::LastPacket));
    assert_eq!(at("now"), Ok(At::Now));
    assert_eq!(
        at("2026-11-24T17:00:00.5+01:00"),
        Ok(At::Instant(
            parse_rfc3339("2026-11-24T16:00:00.5Z").unwrap()
        ))
    );
    assert_eq!(at("90"), Ok(At::AfterFirstPacket(Span::from_secs(90))));
    assert_eq!(at("1.5m"), Ok(At::AfterFirstPacket(Span::from_secs(90))));
    assert_eq!(
        at("250ms"),
        Ok(At::AfterFirstPacket(Span::from_millis(250)))
    );
}

#[test]
fn at_refuses_instants_the_clock_cannot_hold() {
    let message = at("2300-01-01T00:00:00Z").unwrap_err();
    assert!(
        message.contains("outside the times wspulse can represent"),
        "{message}"
    );
    assert!(message.contains("2262-04-11"), "{message}");
}

#[test]
fn at_refuses_a_time_without_a_zone_with_a_hint() {
    let message = at("2026-11-24T16:00:00").unwrap_err();
    assert!(message.contains("no time zone"), "{message}");
    assert!(message.contains("2026-11-24T16:00:00Z"), "{message}");
}

#[test]
fn at_explains_every_form_when_it_understands_none() {
    for bad in ["tomorrow", "-5s", "2026-13-01T00:00:00Z"] {
        let message = at(bad).unwrap_err();
        assert!(message.contains(bad), "{message}");
    }
    let message = at("tomorrow").unwrap_err();
    for form in [
        "end",
        "last-packet",
        "now",
        "RFC 3339",
        "seconds after the first packet",
    ] {
        assert!(message.contains(form), "{form}: {message}");
    }
}

#[test]
fn at_help_teaches_every_form_and_the_default() {
    let help = Cli::try_parse_from(["wspulse", "analyze", "--help"])
        .unwrap_err()
        .to_string();
    for form in [
        "[default: end]",
        "`end`",
        "`last-packet`",
        "`now`",
        "2026-11-24T16:00:00Z",
        "seconds after the first packet",
        "without a zone is refused",
    ] {
        assert!(help.contains(form), "{form} missing from:\n{help}");
    }
}

/// The message a refused command line gets, from clap or from the checks after it.
fn refusal(args: &[&str]) -> String {
    let argv = ["wspulse"].iter().chain(args);
    match Cli::try_parse_from(argv) {
        Err(e) => e.to_string(),
        Ok(cli) => match from_cli(cli) {
            Err(e) => e,
            Ok(_) => panic!("{args:?} was accepted"),
        },
    }
}

#[test]
fn zero_and_negative_thresholds_are_refused_with_the_reason() {
    for flag in ["--idle", "--pong-timeout", "--ack-stall", "--read-deadline"] {
        let e = refusal(&["analyze", flag, "0", "x.pcap"]);
        assert!(e.contains("is zero") && e.contains("longer than 0"), "{e}");
        let e = refusal(&["analyze", flag, "-5s", "x.pcap"]);
        assert!(e.contains("'-5s' is negative"), "{e}");
    }
    let e = refusal(&["probe", "--pong-timeout", "0s", "ws://127.0.0.1:1/"]);
    assert!(e.contains("is zero"), "{e}");
    assert_eq!(
        analyze(&["--idle", "250ms"]).unwrap().thresholds.idle,
        Span::from_millis(250)
    );
}

#[test]
fn the_tcp_view_refuses_flags_about_verdicts() {
    for flag in [
        &["--fail-on", "suspect"][..],
        &["--verdict", "alive"],
        &["--explain", "1"],
    ] {
        let mut args = vec!["analyze", "--tcp"];
        args.extend_from_slice(flag);
        args.push("x.pcap");
        let e = refusal(&args);
        assert!(e.contains("do not combine") && e.contains(flag[0]), "{e}");
        assert!(e.contains("no verdicts"), "the reason: {e}");
    }
}

#[test]
fn fail_on_takes_a_list_for_analyze_live_and_probe() {
    let config = analyze(&["--fail-on", "aborted,false_alive"]).unwrap();
    let set = config.fail_on.unwrap();
    assert!(set.contains(Verdict::Aborted) && set.contains(Verdict::FalseAlive));
    assert!(!set.contains(Verdict::Suspect));
    let set = analyze(&["--fail-on", "suspect"]).unwrap().fail_on.unwrap();
    assert!(set.contains(Verdict::FalseAlive), "suspect alone widens");
    let e = refusal(&["probe", "--fail-on", "suspect,bogus", "ws://127.0.0.1:1/"]);
    assert!(e.contains("'bogus' is not a verdict"), "{e}");
    let argv = [
        "wspulse",
        "probe",
        "--fail-on",
        "closed,aborted",
        "ws://127.0.0.1:1/",
    ];
    match from_cli(Cli::try_parse_from(argv).unwrap()) {
        Ok(Command::Probe(p)) => {
            let set = p.fail_on.unwrap();
            assert!(set.contains(Verdict::Closed) && !set.contains(Verdict::Suspect));
        }
        _ => panic!("not a probe config"),
    }
    let e = refusal(&["live", "-r", "-", "--fail-on", "dead"]);
    assert!(e.contains("'dead' is not a verdict"), "{e}");
}

#[test]
fn host_takes_cidr_prefixes() {
    let config = analyze(&["--host", "10.0.0.0/8", "--host", "fd00::1"]).unwrap();
    let [v4, v6] = &config.selectors.hosts[..] else {
        panic!("two prefixes")
    };
    assert!(v4.contains("10.1.2.3".parse().unwrap()));
    assert!(v6.contains("fd00::1".parse().unwrap()));
    let e = refusal(&["analyze", "--host", "10.0.0.0/40", "x.pcap"]);
    assert!(e.contains("0 to 32"), "{e}");
}

#[test]
fn dash_is_stdout_and_a_directory_is_no_output_file() {
    assert_eq!(analyze(&["-o", "-"]).unwrap().output, None);
    let e = refusal(&["analyze", "-o", "/tmp", "x.pcap"]);
    assert!(e.contains("/tmp: is a directory"), "{e}");
}

#[test]
fn listing_follows_all_and_verdict() {
    assert_eq!(analyze(&[]).unwrap().listing, Listing::Incidents);
    assert_eq!(analyze(&["--all"]).unwrap().listing, Listing::All);
    let Listing::Only(set) = analyze(&["--verdict", "suspect"]).unwrap().listing else {
        panic!("a filter")
    };
    assert!(!set.contains(Verdict::FalseAlive), "--verdict is exact");
    assert!(refusal(&["analyze", "--all", "--verdict", "alive", "x.pcap"]).contains("--all"));
}

#[test]
fn explain_is_a_subcommand_and_a_flag() {
    let argv = [
        "wspulse", "explain", "3", "a.pcap", "b.pcap", "--port", "8080",
    ];
    let Ok(Command::Analyze(c)) = from_cli(Cli::try_parse_from(argv).unwrap()) else {
        panic!("explain runs as analyze")
    };
    assert_eq!(c.explain, Some(3));
    assert_eq!(c.inputs.len(), 2);
    assert_eq!(c.selectors.ports, [8080]);
    assert_eq!(analyze(&["--explain", "2"]).unwrap().explain, Some(2));
}

#[test]
fn help_lists_the_exit_statuses() {
    for args in [
        &["wspulse", "--help"][..],
        &["wspulse", "analyze", "--help"],
    ] {
        let help = Cli::try_parse_from(args).unwrap_err().to_string();
        assert!(help.contains("Exit status"), "{help}");
        assert!(help.contains("1  --fail-on matched"), "{help}");
        assert!(help.contains("2  an error"), "{help}");
    }
}

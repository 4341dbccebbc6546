//! `analyze --report FILE.html`: one self-contained page whose timelines
//! show, without the JSON, what went wrong and when. Checked on the page
//! as written, and as a real browser (Debian's `chromium`, headless)
//! loads it: no request, no console error, and every reason, unanswered
//! Ping, retransmission and zero window drawn where the sample's truth
//! file says it happened.

mod common;
mod pcapgen;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wspulse::time::{parse_rfc3339, Timestamp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wspulse-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `analyze --format json --redact-key k --report PAGE` on
/// `capture` with `extra`: the JSON report and the page.
fn report(capture: &str, page: &str, extra: &[&str]) -> (Value, String) {
    let path = scratch(page);
    let mut args = vec![
        "analyze",
        "--format",
        "json",
        "--redact-key",
        "k",
        "--report",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(capture);
    let out = common::wspulse(&args);
    assert!(
        out.status.code() != Some(2),
        "wspulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap();
    (json, std::fs::read_to_string(&path).unwrap())
}

/// Every tag's attributes, in document order, with the tag name under
/// `""`. Enough for the pages wspulse writes and chromium dumps (double
/// quotes around every value).
fn tags(html: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for piece in html.split('<').skip(1) {
        let Some(end) = piece.find('>') else { continue };
        let body = &piece[..end];
        let mut attrs = BTreeMap::new();
        let name: String = body
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        attrs.insert(String::new(), name.clone());
        let mut rest = &body[name.len()..];
        while let Some(eq) = rest.find("=\"") {
            let key = rest[..eq].trim().to_string();
            let after = &rest[eq + 2..];
            let Some(close) = after.find('"') else { break };
            attrs.insert(key, after[..close].to_string());
            rest = &after[close + 1..];
        }
        out.push(attrs);
    }
    out
}

fn with<'a>(
    tags: &'a [BTreeMap<String, String>],
    key: &'a str,
    value: &'a str,
) -> impl Iterator<Item = &'a BTreeMap<String, String>> {
    tags.iter()
        .filter(move |t| t.get(key).is_some_and(|v| v == value))
}

fn time(s: &str) -> Timestamp {
    parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn apart(a: Timestamp, b: Timestamp) -> f64 {
    (a.nanos() - b.nanos()).abs() as f64 / 1e9
}

fn truth(sample: &str) -> Value {
    let path = common::repo().join(format!("samples/{sample}.truth.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What makes a page fetch or run anything.
fn assert_self_contained(page: &str) {
    let lower = page.to_ascii_lowercase();
    for bad in [
        "http://", "https://", "<script", "url(", "@import", " src=", "<link", "<iframe",
        "<object", "<embed", "<img",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad:?}");
    }
}

/// The checks a page of a fault sample must pass, on the page as
/// written or as chromium dumped it: each reason drawn at the JSON's
/// `since` and passing its threshold within a second of the truth's
/// `since`; the trouble's start within a second of the fault; the
/// unanswered Ping where the truth says it was sent.
fn assert_fault_drawn(sample: &str, json: &Value, page: &str) {
    let truth = truth(sample);
    let fault = time(truth["fault_injected_at"].as_str().unwrap());
    let t = tags(page);
    let c = &json["connections"][0];
    for r in c["reasons"].as_array().unwrap() {
        let (code, side) = (r["code"].as_str().unwrap(), r["side"].as_str().unwrap());
        let drawn: Vec<_> = with(&t, "data-reason", code)
            .filter(|g| g["data-side"] == side)
            .collect();
        assert_eq!(
            drawn.len(),
            1,
            "{sample}: reason {code} ({side}) drawn once"
        );
        assert_eq!(
            time(&drawn[0]["data-at"]),
            time(r["since"].as_str().unwrap()),
            "{sample}: {code} drawn at its JSON since"
        );
    }
    for want in truth["connections"][0]["reason_details"]
        .as_array()
        .unwrap()
    {
        let code = want["code"].as_str().unwrap();
        let g = with(&t, "data-reason", code)
            .find(|g| g["data-side"] == want["side"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{sample}: no {code} on the page"));
        let passed = time(&g["data-threshold-at"]);
        let expected = time(want["since"].as_str().unwrap());
        assert!(
            apart(passed, expected) <= 1.0,
            "{sample}: {code} passes its threshold at {passed}, the truth says {expected}"
        );
    }
    let began = with(&t, "data-mark", "trouble_began")
        .next()
        .expect("trouble's start marked");
    assert!(
        apart(time(&began["data-at"]), fault) <= 1.0,
        "{sample}: trouble began at {} on the page, the fault came at {fault}",
        began["data-at"]
    );
    let ping_sent = truth["connections"][0]["reason_details"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["evidence"]["ping_sent"].as_str())
        .map(time)
        .expect("the truth dates the unanswered Ping");
    assert!(
        with(&t, "data-mark", "ping_unanswered")
            .any(|m| m["data-side"] == "server" && apart(time(&m["data-at"]), ping_sent) <= 1.0),
        "{sample}: the server's unanswered Ping of {ping_sent} is marked"
    );
}

#[test]
fn the_black_holed_peer_shows_its_fault_retransmissions_and_unanswered_ping() {
    let (json, page) = report("samples/blackhole-peer.pcap", "bh.html", &[]);
    assert_self_contained(&page);
    assert_fault_drawn("blackhole-peer", &json, &page);
    let t = tags(&page);
    let fault = time(
        truth("blackhole-peer")["fault_injected_at"]
            .as_str()
            .unwrap(),
    );
    let retx: Vec<Timestamp> = with(&t, "data-mark", "retransmission")
        .filter(|m| m["data-side"] == "server")
        .map(|m| time(&m["data-at"]))
        .collect();
    assert!(
        retx.len() >= 5 && retx.iter().all(|&r| r > fault),
        "the server's retransmissions after the fault are marked: {retx:?}"
    );
    assert!(page.contains("server retransmits from"), "said in words");
    assert!(page.contains("Ping from the server unanswered"));
}

#[test]
fn the_stopped_reader_shows_its_zero_window_and_unanswered_ping() {
    let (json, page) = report("samples/stopped-reader.pcap", "sr.html", &[]);
    assert_self_contained(&page);
    assert_fault_drawn("stopped-reader", &json, &page);
    let t = tags(&page);
    let fault = time(
        truth("stopped-reader")["fault_injected_at"]
            .as_str()
            .unwrap(),
    );
    let zero = with(&t, "data-mark", "zero_window")
        .find(|m| m["data-side"] == "client")
        .expect("the client's zero window is shaded");
    assert!(apart(time(&zero["data-at"]), fault) <= 1.0);
    assert_eq!(zero["data-until"], "", "still zero at the end");
    assert!(
        page.contains("zero window from the client"),
        "said in words"
    );
}

#[test]
fn every_flagged_connection_gets_a_timeline_and_the_json_is_unchanged() {
    let capture = "samples/mixed-fates.pcap";
    let (json, page) = report(capture, "mixed.html", &["--all"]);
    assert_self_contained(&page);
    let plain = common::json(&[
        "analyze",
        "--format",
        "json",
        "--redact-key",
        "k",
        "--all",
        capture,
    ]);
    assert_eq!(json, plain, "--report leaves the JSON report as it was");
    let t = tags(&page);
    for c in json["connections"].as_array().unwrap() {
        let id = c["id"].to_string();
        let verdict = c["verdict"].as_str().unwrap();
        let flagged = match verdict {
            "alive" => false,
            "closed" => {
                !c["reasons"].as_array().unwrap().is_empty()
                    || !c["notes"].as_array().unwrap().is_empty()
            }
            _ => true,
        };
        let section = with(&t, "data-connection", &id).next();
        assert_eq!(section.is_some(), flagged, "#{id} ({verdict})");
        if let Some(s) = section {
            assert_eq!(s["data-verdict"], verdict);
            let at = format!("<section id=\"c{id}\"");
            let body = &page[page.find(&at).unwrap()..];
            let body = &body[..body.find("</section>").unwrap()];
            assert!(body.contains("<svg class=\"timeline\""), "#{id} drawn");
            for r in c["reasons"].as_array().unwrap() {
                assert!(
                    body.contains(&format!("data-reason=\"{}\"", r["code"].as_str().unwrap())),
                    "#{id}: {} drawn",
                    r["code"]
                );
            }
            // The JSON timeline's entries, each at its time.
            for e in c["timeline"].as_array().unwrap() {
                let mark = format!(
                    "data-event=\"{}\" data-side=\"{}\" data-at=\"{}\"",
                    e["event"].as_str().unwrap(),
                    e["side"].as_str().unwrap_or(""),
                    e["at"].as_str().unwrap()
                );
                assert!(body.contains(&mark), "#{id}: {mark}");
            }
        }
    }
    // Every link to a timeline leads to one.
    for link in page.split("href=\"#").skip(1) {
        let id = link.split('"').next().unwrap();
        assert!(
            page.contains(&format!("<section id=\"{id}\"")),
            "#{id} links nowhere"
        );
    }
    // --connection draws an alive one too.
    let alive = json["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verdict"] == "alive")
        .expect("mixed-fates has an alive connection")["id"]
        .to_string();
    let (_, page) = report(capture, "mixed-pick.html", &["--connection", &alive]);
    assert!(page.contains(&format!("<section id=\"c{alive}\"")));
}

/// A capture whose Upgrade carries markup in its path, query and Host.
fn hostile_capture() -> pcapgen::Temp {
    let head = "GET /<script>alert(1)</script>?token=\"'><img%20src=x> HTTP/1.1\r\nHost: <b onload=x>evil\"'</b>\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut cap = pcapgen::Capture::new();
    cap.handshake();
    cap.request(head.as_bytes(), &[]);
    cap.response();
    cap.heartbeats();
    cap.write("hostile.pcap")
}

#[test]
fn markup_from_the_wire_is_shown_as_text_never_as_markup() {
    let cap = hostile_capture();
    for extra in [
        &["--connection", "1"][..],
        &["--connection", "1", "--show-secrets"],
    ] {
        let (_, page) = report(cap.arg(), "hostile.html", extra);
        assert_self_contained(&page);
        assert!(!page.contains("<b onload"), "{extra:?}");
        assert!(!page.contains("<img"), "{extra:?}");
        assert!(
            page.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{extra:?}"
        );
    }
    // Shown as it is only with --show-secrets; by default its tail is masked.
    let (_, page) = report(
        cap.arg(),
        "hostile.html",
        &["--connection", "1", "--show-secrets"],
    );
    assert!(page.contains("&lt;b onload=x&gt;evil&quot;&#39;&lt;/b&gt;"));
}

#[test]
fn redact_shows_what_the_redacted_json_shows() {
    let (json, page) = report(
        "samples/blackhole-peer.pcap",
        "redacted.html",
        &["--redact"],
    );
    let c = &json["connections"][0];
    for v in [&c["client"], &c["server"]] {
        assert!(page.contains(&common::addr(v)), "pseudonym {v} shown");
    }
    for secret in ["10.77.0.2", "10.77.0.1:8080"] {
        assert!(!page.contains(secret), "{secret} left on the page");
    }
    if let Some(host) = c["handshake"]["host"].as_str() {
        let shown = host.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            page.contains(&shown),
            "the masked host as the JSON gives it"
        );
    }
}

#[test]
fn answered_pings_beyond_the_bound_are_not_drawn() {
    let mut cap = pcapgen::Capture::upgraded();
    for _ in 0..200 {
        cap.heartbeats();
    }
    let cap = cap.write("many-pings.pcap");
    let (_, page) = report(cap.arg(), "bounded.html", &["--connection", "1"]);
    let arcs = page.matches("data-mark=\"ping\"").count();
    assert_eq!(arcs, 160, "the latest 160 of 600 answered Pings");
    assert!(page.contains("marks left out"));
}

#[test]
fn stdin_an_input_and_a_missing_directory_are_refused_in_one_line() {
    let input = "samples/blackhole-peer.pcap";
    for (args, says) in [
        (vec!["analyze", "--report", "/tmp/x.html", "-"], "stdin"),
        (vec!["analyze", "--report", input, input], "input capture"),
        (
            vec!["analyze", "--report", "/nonexistent-dir/x.html", input],
            "no such directory",
        ),
        (
            vec!["analyze", "--connection", "1", input],
            "--extract or --report",
        ),
    ] {
        let out = common::wspulse(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert!(Path::new(input).exists() || common::repo().join(input).exists());
}

/// `chromium`, or `None` (said on stderr) when it is not installed here;
/// in CI (`CI=true`) it must be.
fn chromium() -> Option<&'static str> {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name).arg("--version").output().is_ok() {
            return Some(name);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("chromium is not installed (CI installs it: .ci/run)");
    }
    eprintln!("skipped: chromium is not installed (apt-get install chromium)");
    None
}

/// Chromium's own services, which it calls whatever page it loads (the
/// resolver rules below make each call fail).
const BROWSER_HOSTS: [&str; 3] = [".google.com/", ".googleapis.com/", ".gvt1.com/"];

/// Every URL chromium's network log names, but the page's own.
fn requested(net_log: &Path, page: &str) -> Vec<String> {
    let log = std::fs::read_to_string(net_log).unwrap_or_default();
    log.split("\"url\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|url| *url != page && !BROWSER_HOSTS.iter().any(|h| url.contains(h)))
        .map(str::to_string)
        .collect()
}

/// Loads `page` in headless chromium, with every host name unresolvable:
/// the DOM as it rendered, chromium's log, and the URLs the page asked
/// for (from chromium's network log).
fn load(browser: &str, page: &Path, shot: &Path) -> (String, String, Vec<String>) {
    let common = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1280,1400",
    ];
    let url = format!("file://{}", page.display());
    let net_log = page.with_extension("netlog.json");
    let dom = Command::new(browser)
        .args(common)
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let shot_run = Command::new(browser)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&dom.stderr),
        String::from_utf8_lossy(&shot_run.stderr)
    );
    let urls = requested(&net_log, &url);
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log, urls)
}

#[test]
fn a_real_browser_loads_nothing_logs_no_error_and_draws_each_fault_in_time() {
    let Some(browser) = chromium() else { return };
    for (sample, name) in [
        ("blackhole-peer", "bh-browser.html"),
        ("stopped-reader", "sr-browser.html"),
    ] {
        let (json, page) = report(&format!("samples/{sample}.pcap"), name, &[]);
        let path = scratch(&format!("loaded-{name}"));
        std::fs::write(&path, page).unwrap();
        let shot = scratch(&format!("{sample}.png"));
        let (dom, log, urls) = load(browser, &path, &shot);
        assert!(urls.is_empty(), "{sample}: the page asked for {urls:?}");
        for line in log.lines() {
            assert!(
                !line.contains("CONSOLE")
                    && !line.contains("net::ERR")
                    && !line.contains("Failed to load"),
                "{sample}: chromium said {line}"
            );
        }
        assert!(
            dom.contains("<svg class=\"timeline\""),
            "{sample}: rendered"
        );
        assert_fault_drawn(sample, &json, &dom);
        let png = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(png > 20_000, "{sample}: a screenshot of {png} bytes");
    }
}

/// `--verdict` narrows the page as it narrows the table: only the asked
/// verdicts are listed, and each of them is drawn (a closed connection
/// with nothing to say included, since it was asked for).
#[test]
fn verdict_narrows_the_page_as_it_narrows_the_table() {
    let (json, page) = report(
        "samples/mixed-fates.pcap",
        "closed.html",
        &["--verdict", "closed"],
    );
    let listed: Vec<&Value> = json["connections"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["verdict"], "closed");
    assert_eq!(page.matches("<svg").count(), 1, "one timeline");
    for v in ["false_alive", "aborted"] {
        assert!(!page.contains(&format!(">{v}<")), "{v} listed");
    }
}

/// A page that cannot be written says so in one line naming the flag and
/// the file, not `-o` or stdout, and the run fails.
#[test]
fn a_page_that_cannot_be_written_names_the_flag() {
    if !std::path::Path::new("/dev/full").exists() {
        return println!("skipped: no /dev/full");
    }
    let out = common::wspulse(&[
        "analyze",
        "--report",
        "/dev/full",
        "samples/clean-close.pcap",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--report: /dev/full: "), "{err}");
}

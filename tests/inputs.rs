//! Captures as people have them: compressed, rotated in sets named in any
//! order, given twice by mistake, or not captures at all.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::{repo, wspulse};

const PLAIN: &str = "samples/blackhole-peer.pcap";
const INPUTS: &str = "tests/data/inputs";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wspulse-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The findings of `capture` without the input names, which differ.
fn connections(report: &Value) -> &Value {
    &report["connections"]
}

/// A fixed key, so payload digests compare across runs.
const KEY: &str = "inputs-test-key";

fn findings(path: &str) -> Value {
    common::json(&["analyze", "--format", "json", "--redact-key", KEY, path])
}

fn stdin_findings(bytes: Vec<u8>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(["analyze", "--format", "json", "--redact-key", KEY, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// gzip (two members), zstd and lz4 (two frames) captures, made by the
/// command-line tools, read as the capture itself: from a file, from a
/// file whose name says nothing, and from stdin.
#[test]
fn compressed_captures_read_as_the_capture() {
    let plain = findings(PLAIN);
    assert_eq!(plain["connections"][0]["verdict"], "false_alive");
    for ext in ["gz", "zst", "lz4"] {
        let path = format!("{INPUTS}/blackhole-peer.pcap.{ext}");
        let c = findings(&path);
        assert_eq!(connections(&c), connections(&plain), "{ext}");
        assert_eq!(
            c["capture"]["packets"], plain["capture"]["packets"],
            "{ext}"
        );

        let renamed = tmp(&format!("renamed-{ext}.pcap"));
        std::fs::copy(repo().join(&path), &renamed).unwrap();
        let c = findings(renamed.to_str().unwrap());
        assert_eq!(connections(&c), connections(&plain), "{ext} renamed");

        let out = stdin_findings(std::fs::read(repo().join(&path)).unwrap());
        assert!(out.status.success(), "{ext} on stdin: {}", stderr(&out));
        let c: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(connections(&c), connections(&plain), "{ext} on stdin");
    }
}

/// A compression wspulse does not read is named, with the command that
/// undoes it: one line, exit 2, nothing on stdout.
#[test]
fn other_compressions_are_named_with_their_tool() {
    for (ext, said) in [
        ("xz", "xz-compressed capture; decompress it first (xz -d)"),
        (
            "bz2",
            "bzip2-compressed capture; decompress it first (bunzip2)",
        ),
    ] {
        let path = format!("{INPUTS}/blackhole-peer.pcap.{ext}");
        let out = wspulse(&["analyze", &path]);
        assert_eq!(out.status.code(), Some(2), "{ext}");
        assert!(out.stdout.is_empty(), "{ext}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{path}: {said}")), "{err}");
        let out = stdin_findings(std::fs::read(repo().join(&path)).unwrap());
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
}

/// A compressed file cut short keeps the packets before the cut, and says
/// the compressed data is damaged.
#[test]
fn a_cut_compressed_capture_reports_what_came_before() {
    // Two lz4 frames, each half of the capture: cut in the second.
    let bytes = std::fs::read(repo().join(INPUTS).join("blackhole-peer.pcap.lz4")).unwrap();
    let cut = tmp("cut.pcap.lz4");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let out = wspulse(&["analyze", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cut.pcap.lz4"), "{err}");
    assert!(err.contains("lz4 data damaged"), "{err}");
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = c["capture"]["packets"].as_u64().unwrap();
    assert!((1..63).contains(&packets), "{packets} packets");
}

/// Kind: input not decoded, said nowhere. A link type wspulse does not
/// decode is named with its value, on stderr, in the table's summary and
/// in the JSON warnings.
#[test]
fn an_unknown_link_type_is_named_everywhere() {
    let path = "tests/data/cases/capped-flows-silent/c6e_link65000.pcap";
    let said = "link type 65000 is not decoded: 24 packets skipped";
    let table = wspulse(&["analyze", path]);
    assert!(stderr(&table).contains(said), "{}", stderr(&table));
    assert!(String::from_utf8_lossy(&table.stdout).contains(said));
    let tcp = wspulse(&["analyze", "--tcp", path]);
    assert!(String::from_utf8_lossy(&tcp.stdout).contains(said));
    let c = findings(path);
    assert_eq!(c["warnings"], serde_json::json!([said]));
    assert_eq!(c["capture"]["link_types_not_decoded"]["65000"], 24);
}

/// Kind: a record length no file could hold, reported as a cut file. The
/// length is named, with the frame and offset, and the packets before it
/// still count.
#[test]
fn an_impossible_record_length_is_named() {
    let path = "tests/data/cases/impossible-record-length/c6d_caplen_ffffffff.pcap";
    let out = wspulse(&["analyze", "--format", "json", path]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("record length 4294967295 is over the 256 MiB limit"),
        "{err}"
    );
    assert!(err.contains("frame 11, byte offset 1029"), "{err}");
    assert!(!err.contains("truncated"), "{err}");
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["capture"]["packets"], 10);
    assert_eq!(c["connections"].as_array().unwrap().len(), 1);
}

/// Splits a little-endian pcap into `parts` valid files of about the same
/// number of records, as tcpdump `-C` rotation would; returns each part's
/// first frame number in the whole (1-based).
fn split_pcap(src: &str, parts: usize, paths: &[PathBuf]) -> Vec<u64> {
    let bytes = std::fs::read(repo().join(src)).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let (header, mut rest) = bytes.split_at(24);
    let mut records = Vec::new();
    while !rest.is_empty() {
        let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        records.push(&rest[..16 + caplen]);
        rest = &rest[16 + caplen..];
    }
    let per = records.len().div_ceil(parts);
    let mut firsts = Vec::new();
    for (i, chunk) in records.chunks(per).enumerate() {
        let mut out = header.to_vec();
        chunk.iter().for_each(|r| out.extend_from_slice(r));
        std::fs::write(&paths[i], out).unwrap();
        firsts.push((i * per) as u64 + 1);
    }
    assert_eq!(firsts.len(), parts);
    firsts
}

/// Kind: rotated sets named in shell order. `cap*` expands tcpdump `-C`
/// names as cap, cap1, cap10, cap2, …: read by time, the set gives the
/// whole capture's findings, with each frame reference pointing at the
/// file (by its index in the order given) and frame that hold it.
#[test]
fn a_rotated_set_in_shell_order_reads_as_the_whole_capture() {
    let dir = tmp("rotated");
    std::fs::create_dir_all(&dir).unwrap();
    let names: Vec<String> = (0..11)
        .map(|i| {
            if i == 0 {
                "cap".into()
            } else {
                format!("cap{i}")
            }
        })
        .collect();
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let firsts = split_pcap(PLAIN, 11, &paths);
    let mut given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    given.sort(); // as the shell's glob: cap, cap1, cap10, cap2, ...
    assert!(given[2].ends_with("cap10"));

    let whole = findings(PLAIN);
    let mut args = vec!["analyze", "--format", "json", "--redact-key", KEY];
    args.extend(given.iter().map(String::as_str));
    let out = wspulse(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not as given"), "{}", stderr(&out));
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(set["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not as given"));

    let (w, s) = (&whole["connections"][0], &set["connections"][0]);
    assert_eq!(s["verdict"], "false_alive", "{s:#}");
    assert_eq!(common::codes(&s["reasons"]), common::codes(&w["reasons"]));
    for side in ["client", "server"] {
        assert_eq!(
            s["tcp"][side]["retransmissions"],
            w["tcp"][side]["retransmissions"]
        );
    }
    // The last frame: which file holds it, and its number there.
    let last = w["tcp"]["last_frame"]["frame"].as_u64().unwrap();
    let part = firsts.iter().rposition(|&f| f <= last).unwrap();
    let cited = &s["tcp"]["last_frame"];
    let file = cited["file"].as_u64().unwrap() as usize;
    assert_eq!(set["inputs"][file]["path"], given[file].as_str());
    assert!(
        given[file].ends_with(&names[part]),
        "{} {}",
        given[file],
        names[part]
    );
    assert_eq!(cited["frame"].as_u64().unwrap(), last - firsts[part] + 1);

    // Streamed, the header already says so, so a reader of the stream
    // alone knows the order before the first connection.
    let mut args = vec!["analyze", "--format", "ndjson", "--redact-key", KEY];
    args.extend(given.iter().map(String::as_str));
    let out = wspulse(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["type"], "header");
    assert!(
        header["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("not as given")),
        "{header}"
    );
    // Its one connection is still open at the end, so the header is
    // written then, with the evaluation time the end decided.
    assert_eq!(
        header["evaluation_time"], whole["capture"]["evaluation_time"],
        "{header}"
    );
}

/// Kind: the same capture given twice, counted twice (every packet a
/// retransmission). Refused, naming both files, whether it is the same
/// name twice, a copy, or a compressed copy.
#[test]
fn the_same_capture_twice_is_refused() {
    let copy = tmp("copy-of-blackhole.pcap");
    std::fs::copy(repo().join(PLAIN), &copy).unwrap();
    // Compressed, it is still the same capture (the reader decompresses).
    let gz = "tests/data/inputs/blackhole-peer.pcap.gz";
    let zst = "tests/data/inputs/blackhole-peer.pcap.zst";
    for second in [PLAIN, copy.to_str().unwrap(), gz, zst] {
        let out = wspulse(&["analyze", PLAIN, "samples/clean-close.pcap", second]);
        assert_eq!(out.status.code(), Some(2), "{second}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(PLAIN) && err.contains(second), "{err}");
        assert!(err.contains("same capture"), "{err}");
    }
}

/// Captures taken side by side (two interfaces) overlap in time: merged
/// packet by packet, and said so.
#[test]
fn overlapping_captures_are_merged_by_time() {
    let (a, b) = (tmp("even.pcap"), tmp("odd.pcap"));
    let bytes = std::fs::read(repo().join(PLAIN)).unwrap();
    let (header, mut rest) = bytes.split_at(24);
    let (mut even, mut odd) = (header.to_vec(), header.to_vec());
    let mut n = 0;
    while !rest.is_empty() {
        let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let out = if n % 2 == 0 { &mut even } else { &mut odd };
        out.extend_from_slice(&rest[..16 + caplen]);
        rest = &rest[16 + caplen..];
        n += 1;
    }
    std::fs::write(&a, even).unwrap();
    std::fs::write(&b, odd).unwrap();
    let out = wspulse(&[
        "analyze",
        "--format",
        "json",
        "--redact-key",
        KEY,
        b.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("merged by time"), "{}", stderr(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole = findings(PLAIN);
    let (w, m) = (&whole["connections"][0], &merged["connections"][0]);
    assert_eq!(m["verdict"], w["verdict"]);
    assert_eq!(m["tcp"]["server"]["retransmissions"], 7);
    assert_eq!(
        m["tcp"]["client"]["payload_bytes"],
        w["tcp"]["client"]["payload_bytes"]
    );
    assert_eq!(merged["capture"]["clock_step_count"], 0);
}

/// Inputs that are no capture at all: a directory, a missing file, an
/// empty file, a file whose first read fails. Alone, each is one line
/// naming it and exit 2 with nothing on stdout; among other inputs, a
/// warning naming it, the report of the rest, and exit 2.
#[test]
fn inputs_that_cannot_be_read_are_named_in_one_line() {
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let cases = [
        ("samples", "samples: cannot open: is a directory"),
        ("no-such.pcap", "no-such.pcap: cannot open"),
        (empty.to_str().unwrap(), "empty.pcap: empty file"),
        // Opens, but reading it fails (EIO at offset 0), even for root.
        (
            "/proc/self/mem",
            "/proc/self/mem: read error at byte offset 0",
        ),
    ];
    for (path, said) in cases {
        let out = wspulse(&["analyze", path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert!(out.stdout.is_empty(), "{path}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(said), "{err}");

        let out = wspulse(&["analyze", "--format", "json", path, PLAIN]);
        assert_eq!(out.status.code(), Some(2), "{path} among others");
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
        let c: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(c["connections"].as_array().unwrap().len(), 1);
        assert!(c["capture"]["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains(said));
        assert_eq!(c["capture"]["files"][1]["packets"], 63);

        // The table, often saved with -o, names it in its summary too.
        let out = wspulse(&["analyze", "--color", "never", path, PLAIN]);
        let table = String::from_utf8(out.stdout).unwrap();
        let summary = table.lines().last().unwrap_or_default();
        assert!(summary.contains(said), "{path}: {table}");
    }
}

/// Kind: a damaged record taken as a packet. Two captures joined with
/// `cat` put the second's file header where a record should be; read as a
/// record, its magic number became a time in 2055, which judged the
/// connection idle for an hour. It is named as what it is, and the
/// findings keep the evaluation time of the packets before it.
#[test]
fn an_appended_capture_header_is_damage_not_a_packet() {
    let once = std::fs::read(repo().join(PLAIN)).unwrap();
    let twice = tmp("cat-twice.pcap");
    std::fs::write(&twice, [once.clone(), once].concat()).unwrap();
    let out = wspulse(&["analyze", "--format", "json", twice.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("damaged at frame 64") && err.contains("file header, appended"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole = findings(PLAIN);
    assert_eq!(
        report["capture"]["evaluation_time"],
        whole["capture"]["evaluation_time"]
    );
    assert_eq!(
        report["connections"][0]["verdict"],
        whole["connections"][0]["verdict"]
    );
}

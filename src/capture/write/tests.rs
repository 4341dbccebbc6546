//! Writing pcap files: what wspulse's reader and tshark read back, rotation
//! names and sizes, and the user's files left alone.

use std::process::Command;

use super::*;
use crate::capture::file::{read_file, Input};
use crate::capture::LinkType;

/// A directory of its own per test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wspulse-write-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (time in ns, original length, bytes) per packet, as the reader gives it.
fn read_back(path: &Path, file_index: u32) -> Vec<(FrameRef, i64, u32, Vec<u8>, LinkType)> {
    let mut out = Vec::new();
    read_file(&Input::Path(path.to_path_buf()), file_index, &mut |p| {
        out.push((p.frame, p.at.nanos(), p.orig_len, p.data.to_vec(), p.link));
    })
    .unwrap();
    out
}

const T0: i64 = 1_764_000_000_123_456_789; // 2025-11-24, with all nine digits

fn no_rotation() -> Rotation {
    Rotation::default()
}

#[test]
fn packets_read_back_with_nanosecond_times_snaplen_and_wireshark_frame_numbers() {
    let dir = Scratch::new("readback");
    let path = dir.path("cap.pcap");
    let mut w = RotatingWriter::create(&path, 1, 64, no_rotation()).unwrap();
    let refs = [
        w.write(Timestamp::from_nanos(T0), 60, &[0xaa; 60]).unwrap(),
        w.write(Timestamp::from_nanos(T0 + 1), 1514, &[0xbb; 100])
            .unwrap(),
        w.write(Timestamp::from_nanos(T0 + 2_000_000_007), 40, &[0xcc; 40])
            .unwrap(),
    ];
    w.flush().unwrap();
    assert_eq!(
        refs.map(|r| (r.file(), r.frame())),
        [(0, 1), (0, 2), (0, 3)]
    );
    let got = read_back(&path, 0);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, refs[0]);
    assert_eq!(got[0].1, T0);
    assert_eq!(got[1].1, T0 + 1, "nanoseconds survive");
    assert_eq!(got[2].1, T0 + 2_000_000_007);
    // Cut to the snaplen; the length on the wire is kept.
    assert_eq!((got[1].2, got[1].3.len()), (1514, 64));
    assert_eq!(got[0].3, vec![0xaa; 60]);
    assert_eq!(got[0].4, LinkType::Ethernet);
    assert_eq!(w.paths(), vec![path]);
}

#[test]
fn tshark_reads_the_frames_and_their_times() {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("tshark not installed: skipped (CI installs it)");
        return;
    }
    let dir = Scratch::new("tshark");
    let path = dir.path("cap.pcap");
    let mut w = RotatingWriter::create(&path, 1, 65535, no_rotation()).unwrap();
    // A minimal Ethernet + IPv4 + TCP SYN so tshark dissects something real.
    let syn: Vec<u8> = [
        &[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00][..],
        &[
            0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 79, 0, 2, 10, 79, 0, 1,
        ],
        &[
            0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ],
    ]
    .concat();
    for i in 0..5 {
        w.write(
            Timestamp::from_nanos(T0 + i * 250_000_001),
            syn.len() as u32,
            &syn,
        )
        .unwrap();
    }
    drop(w);
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "frame.time_epoch",
        ])
        .args(["-e", "tcp.dstport"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "1\t1764000000.123456789\t8080");
    assert_eq!(lines[4], "5\t1764000001.123456793\t8080");
}

#[test]
fn rotation_starts_file1_file2_before_a_file_would_pass_the_size() {
    let dir = Scratch::new("rotate");
    let path = dir.path("cap.pcap");
    // Header 24 + two records of 16 + 30: a third would pass 120 bytes.
    let rotation = Rotation {
        max_size: Some(120),
        files: None,
    };
    let mut w = RotatingWriter::create(&path, 1, 65535, rotation).unwrap();
    let refs: Vec<(u32, u64)> = (0..5)
        .map(|i| {
            let r = w
                .write(Timestamp::from_nanos(T0 + i), 30, &[i as u8; 30])
                .unwrap();
            (r.file(), r.frame())
        })
        .collect();
    drop(w);
    assert_eq!(refs, [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1)]);
    let names = ["cap.pcap", "cap.pcap1", "cap.pcap2"];
    for (i, name) in names.iter().enumerate() {
        let p = dir.path(name);
        let size = std::fs::metadata(&p).unwrap().len();
        assert!(size <= 120, "{name} is {size} bytes");
        let got = read_back(&p, i as u32);
        assert_eq!(got[0].0, FrameRef::new(i as u32, 1), "{name}");
        assert_eq!(
            got[0].3[0],
            2 * i as u8,
            "{name} starts with packet {}",
            2 * i
        );
    }
    assert!(!dir.path("cap.pcap3").exists());
}

#[test]
fn a_ring_of_files_reuses_the_oldest_of_its_own_names() {
    let dir = Scratch::new("ring");
    let path = dir.path("ring.pcap");
    // One 10-byte packet per file (24 + 16 + 10 = 50).
    let rotation = Rotation {
        max_size: Some(50),
        files: Some(2),
    };
    let mut w = RotatingWriter::create(&path, 1, 65535, rotation).unwrap();
    for i in 0..5u8 {
        let r = w
            .write(Timestamp::from_nanos(T0 + i64::from(i)), 10, &[i; 10])
            .unwrap();
        assert_eq!((r.file(), r.frame()), (u32::from(i), 1));
    }
    w.flush().unwrap();
    let second = dir.path("ring.pcap1");
    assert_eq!(
        w.paths(),
        vec![second.clone(), path.clone()],
        "oldest first"
    );
    assert_eq!(w.path_of(4), Some(path.clone()));
    assert_eq!(w.path_of(3), Some(second.clone()));
    assert_eq!(w.path_of(2), None, "its name now holds file 4");
    assert_eq!(w.path_of(5), None);
    assert_eq!(read_back(&path, 0)[0].3, vec![4; 10]);
    assert_eq!(read_back(&second, 0)[0].3, vec![3; 10]);
    assert!(!dir.path("ring.pcap2").exists());
}

#[test]
fn an_existing_file_is_refused_by_name_and_left_as_it_was() {
    let dir = Scratch::new("refuse");
    let path = dir.path("mine.pcap");
    std::fs::write(&path, b"the user's data").unwrap();
    let err = RotatingWriter::create(&path, 1, 65535, no_rotation()).unwrap_err();
    assert!(err.contains("mine.pcap: already exists"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"the user's data");

    // The same when rotation reaches a name the user has.
    let fresh = dir.path("run.pcap");
    let theirs = dir.path("run.pcap1");
    std::fs::write(&theirs, b"older capture").unwrap();
    let rotation = Rotation {
        max_size: Some(50),
        files: Some(3),
    };
    let mut w = RotatingWriter::create(&fresh, 1, 65535, rotation).unwrap();
    w.write(Timestamp::from_nanos(T0), 10, &[1; 10]).unwrap();
    let err = w
        .write(Timestamp::from_nanos(T0 + 1), 10, &[2; 10])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert!(
        err.to_string().contains("run.pcap1: already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read(&theirs).unwrap(), b"older capture");
    // The packets written before are still there and readable.
    w.flush().unwrap();
    assert_eq!(read_back(&fresh, 0).len(), 1);
}

#[test]
fn settings_that_cannot_work_are_refused_with_a_reason() {
    let dir = Scratch::new("settings");
    let path = dir.path("x.pcap");
    let cases = [
        (0, no_rotation(), "snapshot length"),
        (
            100,
            Rotation {
                max_size: Some(0),
                files: None,
            },
            "size limit",
        ),
        (
            100,
            Rotation {
                max_size: Some(100),
                files: Some(0),
            },
            "number of files",
        ),
        (
            100,
            Rotation {
                max_size: None,
                files: Some(3),
            },
            "needs a file size limit",
        ),
    ];
    for (snaplen, rotation, expected) in cases {
        let err = RotatingWriter::create(&path, 1, snaplen, rotation).unwrap_err();
        assert!(err.contains(expected), "{err}");
        assert!(!path.exists(), "nothing created for {rotation:?}");
    }
}

#[test]
fn times_outside_pcaps_32_bit_seconds_are_clamped_not_wrapped() {
    assert_eq!(pcap_time(Timestamp::from_nanos(-1)), (0, 0));
    assert_eq!(
        pcap_time(Timestamp::from_nanos(1_500_000_000_000_000_000)).0,
        1_500_000_000
    );
    assert_eq!(pcap_time(Timestamp::MAX), (u32::MAX, 999_999_999));
}

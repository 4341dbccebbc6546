//! Reading capture files: link types, time resolutions and offsets, and
//! the recorded end of a capture.

use super::*;

/// A pcapng writer for tests, in either byte order: just the blocks we
/// read.
#[derive(Default)]
pub(crate) struct PcapNg {
    pub bytes: Vec<u8>,
    pub big_endian: bool,
}

impl PcapNg {
    pub(crate) fn big_endian() -> Self {
        PcapNg {
            bytes: Vec::new(),
            big_endian: true,
        }
    }

    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A 64-bit time as pcapng stores it: high word, then low word.
    fn time(&self, raw: u64) -> Vec<u8> {
        let mut out = self.u32((raw >> 32) as u32).to_vec();
        out.extend(self.u32(raw as u32));
        out
    }

    fn option(&self, out: &mut Vec<u8>, code: u16, value: &[u8]) {
        out.extend(self.u16(code));
        out.extend(self.u16(value.len() as u16));
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
        let len = self.u32((12 + body.len().next_multiple_of(4)) as u32);
        self.bytes.extend(self.u32(kind));
        self.bytes.extend(len);
        self.bytes.extend(body);
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
        self.bytes.extend(len);
        self
    }

    pub(crate) fn section(&mut self) -> &mut Self {
        let mut body = self.u32(0x1A2B_3C4D).to_vec();
        body.extend(self.u16(1));
        body.extend(self.u16(0));
        body.extend([0xff; 8]); // section length unknown (-1)
        self.block(0x0A0D_0D0A, &body)
    }

    /// An Ethernet interface with optional `if_tsresol` and `if_tsoffset`.
    pub(crate) fn interface(&mut self, tsresol: Option<u8>, tsoffset: Option<i64>) -> &mut Self {
        let mut body = self.u16(1).to_vec();
        body.extend(self.u16(0));
        body.extend(self.u32(65535));
        if let Some(r) = tsresol {
            self.option(&mut body, 9, &[r]);
        }
        if let Some(o) = tsoffset {
            let o = if self.big_endian {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            self.option(&mut body, 14, &o);
        }
        if tsresol.is_some() || tsoffset.is_some() {
            self.option(&mut body, 0, &[]);
        }
        self.block(1, &body)
    }

    pub(crate) fn packet(&mut self, if_id: u32, raw: u64) -> &mut Self {
        let data = [0u8; 14];
        let mut body = self.u32(if_id).to_vec();
        body.extend(self.time(raw));
        body.extend(self.u32(data.len() as u32));
        body.extend(self.u32(data.len() as u32));
        body.extend(data);
        self.block(6, &body)
    }

    /// Interface statistics with `isb_endtime` (option 3) when given.
    pub(crate) fn statistics(&mut self, if_id: u32, raw: u64, end: Option<u64>) -> &mut Self {
        let mut body = self.u32(if_id).to_vec();
        body.extend(self.time(raw));
        if let Some(end) = end {
            // isb_starttime first, as dumpcap writes it, to find the right one.
            self.option(&mut body, 2, &self.time(1));
            self.option(&mut body, 3, &self.time(end));
            self.option(&mut body, 0, &[]);
        }
        self.block(5, &body)
    }

    /// Writes the file and reads it back: the outcome and every
    /// packet's time.
    pub(crate) fn read(&self, name: &str) -> (FileOutcome, Vec<Timestamp>) {
        let path =
            std::env::temp_dir().join(format!("wspulse-file-{}-{name}.pcapng", std::process::id()));
        std::fs::write(&path, &self.bytes).unwrap();
        let mut times = Vec::new();
        let outcome = read_file(&Input::Path(path.clone()), 0, &mut |p| times.push(p.at));
        std::fs::remove_file(&path).unwrap();
        (outcome.unwrap(), times)
    }
}

#[test]
fn decodes_decimal_and_binary_resolutions() {
    assert_eq!(units_per_sec(6), Some(1_000_000));
    assert_eq!(units_per_sec(9), Some(1_000_000_000));
    assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
    assert_eq!(units_per_sec(20), None);
    assert_eq!(units_per_sec(0x80 | 10), Some(1024));
    assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
    assert_eq!(units_per_sec(0x80 | 64), None);
}

#[test]
fn binary_resolution_packets_keep_their_time() {
    let (_, times) = PcapNg::default()
        .section()
        .interface(Some(0x80 | 10), None)
        .packet(0, 1_700_000_000 * 1024 + 512)
        .read("binary");
    assert_eq!(times, [Timestamp::from_nanos(1_700_000_000_500_000_000)]);
}

#[test]
fn times_past_the_clock_type_are_refused_never_wrapped() {
    let ns = 1_700_000_000_000_000_000u64;
    let (outcome, times) = PcapNg::default()
        .section()
        .interface(Some(9), None)
        .interface(Some(9), Some(i64::MAX))
        .interface(Some(0), Some(i64::MIN))
        .packet(0, ns)
        // A hostile offset, a raw count past 2262, a huge negative offset.
        .packet(1, 5)
        .packet(0, u64::MAX)
        .packet(2, 1)
        .packet(0, ns + 1_000)
        .read("hostile");
    let t = Timestamp::from_nanos(ns as i64);
    assert_eq!(
        times,
        [t, t, t, t, Timestamp::from_nanos(ns as i64 + 1_000)]
    );
    assert_eq!(outcome.packets, 5);
    assert_eq!(outcome.unrepresentable_times, 3);
}

#[test]
fn an_offset_shifts_packet_times() {
    let (outcome, times) = PcapNg::default()
        .section()
        .interface(None, Some(1_700_000_000))
        .packet(0, 2_500_000)
        .read("offset");
    assert_eq!(times, [Timestamp::from_nanos(1_700_000_002_500_000_000)]);
    assert_eq!(outcome.unrepresentable_times, 0);
}

mod recorded_end {
    use super::PcapNg;
    use super::*;
    use crate::time::parse_rfc3339;

    fn case(name: &str) -> Input {
        Input::Path(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/cases")
                .join(name),
        )
    }

    fn read(input: &Input) -> (FileOutcome, Timestamp) {
        let mut last = None;
        let outcome = read_file(input, 0, &mut |p| {
            last = Some(last.map_or(p.at, |t: Timestamp| t.max(p.at)));
        })
        .unwrap();
        (outcome, last.unwrap())
    }

    #[test]
    fn dumpcap_records_when_capturing_stopped() {
        // Written by dumpcap 4.0.17 with nanosecond packet times; its
        // isb_endtime, 1795969116120451, is in microseconds.
        let (outcome, last_packet) = read(&case("close-never-answered/capture.pcapng"));
        assert_eq!(outcome.packets, 18);
        assert_eq!(
            last_packet,
            parse_rfc3339("2026-11-29T16:18:25.522919662Z").unwrap()
        );
        let end = outcome.recorded_end.expect("the ISB's end time");
        assert_eq!(end, parse_rfc3339("2026-11-29T16:18:36.120451Z").unwrap());
        assert_eq!(end.since(last_packet).nanos(), 10_597_531_338);
    }

    #[test]
    fn pcap_records_no_end() {
        let (outcome, _) = read(&case("close-never-answered/capture.pcap"));
        assert_eq!(outcome.packets, 18);
        assert_eq!(outcome.recorded_end, None);
    }

    const NS: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn the_interface_units_and_offset_apply_as_for_packets() {
        for mut file in [PcapNg::default(), PcapNg::big_endian()] {
            let name = if file.big_endian {
                "units-be"
            } else {
                "units-le"
            };
            let (outcome, _) = file
                .section()
                .interface(Some(9), None)
                .interface(Some(3), Some(1_700_000_000))
                .packet(0, NS)
                .packet(1, 1_000)
                .statistics(0, 0, Some(NS + 5_000_000_000))
                .statistics(1, 0, Some(12_500))
                .read(name);
            // The latest of the two: interface 1's 1_700_000_012.5 s.
            assert_eq!(
                outcome.recorded_end,
                Some(Timestamp::from_nanos(1_700_000_012_500_000_000))
            );
        }
    }

    #[test]
    fn microseconds_on_a_nanosecond_interface_are_read_as_dumpcap_meant() {
        let (outcome, _) = PcapNg::default()
            .section()
            .interface(Some(9), None)
            .packet(0, NS)
            .statistics(0, 0, Some(NS / 1_000 + 10_000_000))
            .read("dumpcap");
        assert_eq!(
            outcome.recorded_end,
            Some(Timestamp::from_nanos(NS as i64 + 10_000_000_000))
        );
    }

    #[test]
    fn an_end_that_fits_neither_reading_is_kept_as_stated() {
        // Before the packet in both units: statistics written part-way, or a
        // writer's mistake. CaptureSpan::end() takes the last packet then.
        let (outcome, _) = PcapNg::default()
            .section()
            .interface(Some(9), None)
            .packet(0, NS)
            .statistics(0, 0, Some(NS - 1))
            .read("early");
        assert_eq!(
            outcome.recorded_end,
            Some(Timestamp::from_nanos(NS as i64 - 1))
        );
    }

    #[test]
    fn no_end_without_the_option_an_interface_or_a_representable_time() {
        let (outcome, _) = PcapNg::default()
            .section()
            .interface(Some(9), Some(i64::MAX))
            .statistics(0, 0, None)
            .statistics(7, 0, Some(NS))
            .statistics(0, 0, Some(NS))
            .read("none");
        assert_eq!(outcome.recorded_end, None);
    }
}

/// A stream that hands over one byte per read, as a pipe or ssh may when
/// the writer is slow.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

/// pcap-parser tells the format from its first read: a stream whose first
/// block comes in pieces is still read, pcap and pcapng alike, with the
/// same packets as the file.
#[test]
fn a_stream_trickling_in_byte_by_byte_reads_as_the_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "samples/close-unanswered.pcap",
        "samples/idle-no-heartbeat.pcapng",
    ] {
        let path = root.join(name);
        let mut from_file = Vec::new();
        read_file(&Input::Path(path.clone()), 0, &mut |p| {
            from_file.push((p.at, p.frame, p.data.len()))
        })
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut from_stream = Vec::new();
        let outcome = read_stream(
            Box::new(Trickle(std::io::Cursor::new(bytes))),
            name.into(),
            0,
            &mut |p| from_stream.push((p.at, p.frame, p.data.len())),
        )
        .unwrap();
        assert!(!from_file.is_empty());
        assert_eq!(from_stream, from_file, "{name}");
        assert_eq!(outcome.packets, from_file.len() as u64);
    }
    let err = read_stream(
        Box::new(Trickle(std::io::Cursor::new(
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ))),
        "<stdin>".into(),
        0,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "<stdin>: not a pcap or pcapng file");
}

//! The merge on small files: order by first packet, overlap merged by
//! time, each file's own order kept, frame references per input.

use super::*;

/// A little-endian µs pcap of raw-IP records, one per time (seconds),
/// each holding its own time as data.
fn pcap(times: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for &t in times {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&t.to_le_bytes());
    }
    out
}

fn files(test: &str, sets: &[&[u32]]) -> Vec<Input> {
    let dir = std::env::temp_dir().join(format!("wspulse-set-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    sets.iter()
        .enumerate()
        .map(|(i, times)| {
            let path = dir.join(format!("cap{i}"));
            std::fs::write(&path, pcap(times)).unwrap();
            Input::Path(path)
        })
        .collect()
}

/// (file, frame, time in s) of every packet, in the order handed over,
/// and the notes.
type Read = (Vec<(u32, u64, u32)>, Vec<SetNote>, Vec<u32>);

fn read(inputs: &[Input]) -> Read {
    let mut seen = Vec::new();
    let mut ended = Vec::new();
    let notes = read_set(
        inputs,
        None,
        &mut |p| {
            let t = u32::from_le_bytes(p.data[..4].try_into().unwrap());
            seen.push((p.frame.file(), p.frame.frame(), t));
        },
        &mut |i, r| {
            r.unwrap();
            ended.push(i);
        },
    )
    .unwrap();
    (seen, notes, ended)
}

#[test]
fn rotated_files_named_out_of_order_are_read_by_time() {
    // As `cap*` expands cap, cap1, cap10, cap2: given 0, 2, 1.
    let inputs = files("rotated", &[&[10, 11], &[30, 31], &[20, 21]]);
    let (seen, notes, ended) = read(&inputs);
    assert_eq!(
        seen,
        vec![
            (0, 1, 10),
            (0, 2, 11),
            (2, 1, 20),
            (2, 2, 21),
            (1, 1, 30),
            (1, 2, 31)
        ]
    );
    assert_eq!(ended, vec![0, 2, 1]);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let said = notes[0].to_string();
    assert!(said.contains("not as given"), "{said}");
    assert!(said.find("cap2").unwrap() < said.find("cap1").unwrap());
}

#[test]
fn files_in_order_say_nothing() {
    let inputs = files("in-order", &[&[1, 2], &[2, 3]]);
    let (seen, notes, _) = read(&inputs);
    assert_eq!(seen.len(), 4);
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn overlapping_files_are_merged_by_time_keeping_their_frames() {
    let inputs = files("overlap", &[&[1, 3, 5, 7], &[2, 4, 6]]);
    let (seen, notes, _) = read(&inputs);
    let times: Vec<u32> = seen.iter().map(|s| s.2).collect();
    assert_eq!(times, vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(seen.contains(&(1, 3, 6)) && seen.contains(&(0, 4, 7)));
    assert!(matches!(&notes[..], [SetNote::Overlap { .. }]), "{notes:?}");
}

/// A clock that steps back inside a file does not pull that file's later
/// packets ahead of the other file: each file's own order holds.
#[test]
fn a_step_back_inside_a_file_keeps_its_order() {
    let inputs = files("step", &[&[1, 9, 2, 3], &[5, 6]]);
    let (seen, _, _) = read(&inputs);
    let order: Vec<(u32, u64)> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(order, vec![(0, 1), (1, 1), (1, 2), (0, 2), (0, 3), (0, 4)]);
}

#[test]
fn the_same_capture_twice_is_refused() {
    let inputs = files("twice", &[&[1, 2], &[5, 6], &[1, 2]]);
    let err = read_set(&inputs, None, &mut |_| {}, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, CaptureError::Duplicate { .. }));
    let said = err.to_string();
    assert!(said.contains("cap0") && said.contains("cap2"), "{said}");
}

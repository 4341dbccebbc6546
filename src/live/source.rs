//! Where the live tap's packets come from: a reader thread per source
//! (libpcap on an interface, or a capture stream), handing batches of
//! copied packets to the engine over a bounded queue.
//!
//! The queue holds at most [`QUEUE_BATCHES`] batches of at most
//! [`BATCH_BYTES`] each, so memory stays bounded whatever the traffic: when
//! judging falls behind, the reader waits (counted as the `queue` limit),
//! and packets wait in the kernel buffer (`-B`) or the pipe instead, where
//! an overflow is counted by libpcap or by the writer.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::capture::file::{read_stream, start_stream, CaptureError, Input};
use crate::capture::follow::Follow;
use crate::capture::{FrameRef, KernelStats, LinkType, Packet};
use crate::time::Timestamp;

/// Batches queued between a reader and the engine at most.
pub const QUEUE_BATCHES: usize = 64;
/// A batch is handed over once it holds this many bytes of packets.
pub const BATCH_BYTES: usize = 1 << 20;
/// … or this many packets.
const BATCH_PACKETS: usize = 4096;

/// Packets copied out of the reader's buffer, in capture order.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    packets: Vec<Meta>,
}

struct Meta {
    at: Timestamp,
    frame: FrameRef,
    link: LinkType,
    orig_len: u32,
    start: usize,
    len: usize,
}

impl Batch {
    pub fn push(&mut self, p: &Packet<'_>) {
        self.packets.push(Meta {
            at: p.at,
            frame: p.frame,
            link: p.link,
            orig_len: p.orig_len,
            start: self.data.len(),
            len: p.data.len(),
        });
        self.data.extend_from_slice(p.data);
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    fn is_full(&self) -> bool {
        self.data.len() >= BATCH_BYTES || self.packets.len() >= BATCH_PACKETS
    }

    /// The packets, as the reader saw them.
    pub fn iter(&self) -> impl Iterator<Item = Packet<'_>> {
        self.packets.iter().map(|m| Packet {
            at: m.at,
            frame: m.frame,
            link: m.link,
            data: &self.data[m.start..m.start + m.len],
            orig_len: m.orig_len,
        })
    }
}

/// What a reader tells the engine.
pub enum Msg {
    /// The input is a capture (an interface opened, or a stream that
    /// begins like pcap or pcapng): the report can begin.
    Started,
    Packets(Batch),
    /// libpcap's counters so far.
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    Kernel(KernelStats),
    /// The input ended: cleanly, or with the damage that stopped it.
    End(End),
    /// The input could not be read at all (not a capture, empty).
    Failed(String),
}

/// How an input ended.
#[derive(Debug, Default)]
pub struct End {
    /// The damage that stopped it, if any.
    pub warning: Option<String>,
    /// When capturing stopped, as a pcapng stream records it (on the
    /// stream's own clock).
    pub recorded_end: Option<Timestamp>,
}

/// A running reader.
pub struct Source {
    rx: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    waits: Arc<AtomicU64>,
    /// Joined when stopping, for its last counters: only a reader that
    /// notices `stop` (a stream on stdin may sit in a read forever).
    device: Option<JoinHandle<Option<KernelStats>>>,
}

/// The sending half, counting the times the queue was full.
#[derive(Clone)]
struct Queue {
    tx: SyncSender<Msg>,
    waits: Arc<AtomicU64>,
}

impl Queue {
    /// False once the engine is gone.
    fn send(&self, msg: Msg) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                self.tx.send(msg).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

impl Source {
    /// Starts a reader thread running `read` with the sending half of the
    /// queue; `device` says whether to wait for it when stopping.
    fn start(
        stop: Arc<AtomicBool>,
        name: &str,
        device: bool,
        read: impl FnOnce(Queue) -> Option<KernelStats> + Send + 'static,
    ) -> Result<Source, String> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_BATCHES);
        let waits = Arc::new(AtomicU64::new(0));
        let queue = Queue {
            tx,
            waits: waits.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || read(queue))
            .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        Ok(Source {
            rx,
            stop,
            waits,
            device: device.then_some(handle),
        })
    }

    /// A capture stream: stdin, a FIFO, or a regular file followed as it
    /// grows until stopped. Refused when stdin is a terminal (nothing is
    /// piped in).
    pub fn stream(input: &Input) -> Result<Source, String> {
        use std::io::IsTerminal;
        let stop = Arc::new(AtomicBool::new(false));
        let reader: Box<dyn Read + Send> = match input {
            Input::Stdin if io::stdin().is_terminal() => {
                return Err("-r -: stdin is a terminal; pipe a capture in, e.g. \
                            tcpdump -i eth0 -U -w - 'tcp port 8080' | wspulse live -r -"
                    .into())
            }
            Input::Stdin => Box::new(io::stdin()),
            Input::Path(p) => {
                let file = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let meta = file
                    .metadata()
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                if meta.is_dir() {
                    return Err(format!("{}: is a directory", p.display()));
                }
                if meta.is_file() {
                    Box::new(Follow::new(file, stop.clone()))
                } else {
                    Box::new(file)
                }
            }
        };
        let path = input.display();
        Source::start(stop, "wspulse-read", false, move |queue| {
            read_into(reader, path, queue);
            None
        })
    }

    /// An interface opened with libpcap: polled until stopped.
    #[cfg(feature = "live")]
    pub fn device(mut device: crate::capture::device::Device) -> Result<Source, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Source::start(stop, "wspulse-capture", true, move |queue| {
            capture_into(&mut device, &queue, &flag)
        })
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Msg, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// How many batches the queue holds at most, and how often the reader
    /// had to wait for room.
    pub fn queue(&self) -> (usize, u64) {
        (QUEUE_BATCHES, self.waits.load(Ordering::Relaxed))
    }

    /// Stops reading. An interface's reader is waited for (one poll at
    /// most) and its last counters returned; a stream's reader is left to
    /// end with the process.
    pub fn stop(mut self) -> Option<KernelStats> {
        self.stop.store(true, Ordering::Relaxed);
        let device = self.device.take()?;
        // Unblocks a reader waiting for room in the queue.
        drop(self.rx);
        device.join().ok().flatten()
    }
}

/// Reads a capture stream into the queue. A batch goes out when it is
/// full, and whenever the stream has nothing more for now (just before a
/// read that may block), so a packet never waits for the next one.
fn read_into(reader: Box<dyn Read + Send>, path: String, queue: Queue) {
    let reader = match start_stream(reader, &path) {
        Ok(r) => r,
        Err(e) => {
            queue.send(Msg::Failed(e.to_string()));
            return;
        }
    };
    if !queue.send(Msg::Started) {
        return;
    }
    let batch = Arc::new(Mutex::new(Batch::default()));
    let flushing = Flushing {
        inner: reader,
        batch: batch.clone(),
        queue: queue.clone(),
    };
    let result = read_stream(Box::new(flushing), path, 0, &mut |p| {
        let mut b = batch.lock().unwrap_or_else(|e| e.into_inner());
        b.push(p);
        if b.is_full() {
            let full = std::mem::take(&mut *b);
            queue.send(Msg::Packets(full));
        }
    });
    let rest = std::mem::take(&mut *batch.lock().unwrap_or_else(|e| e.into_inner()));
    if !rest.is_empty() {
        queue.send(Msg::Packets(rest));
    }
    queue.send(match result {
        Ok(outcome) => Msg::End(End {
            warning: None,
            recorded_end: outcome.recorded_end,
        }),
        Err(
            e @ (CaptureError::Open { .. }
            | CaptureError::NotACapture { .. }
            | CaptureError::Empty { .. }),
        ) => Msg::Failed(e.to_string()),
        Err(e) => Msg::End(End {
            warning: Some(e.to_string()),
            recorded_end: None,
        }),
    });
}

/// Hands the batch over before every read of the stream underneath.
struct Flushing {
    inner: Box<dyn Read + Send>,
    batch: Arc<Mutex<Batch>>,
    queue: Queue,
}

impl Read for Flushing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ready = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|e| e.into_inner()));
        if !ready.is_empty() && !self.queue.send(Msg::Packets(ready)) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// Polls an interface into the queue until stopped; returns the last
/// counters.
#[cfg(feature = "live")]
fn capture_into(
    device: &mut crate::capture::device::Device,
    queue: &Queue,
    stop: &AtomicBool,
) -> Option<KernelStats> {
    const WAIT: Duration = Duration::from_millis(50);
    const STATS_EVERY: Duration = Duration::from_millis(500);
    let mut last_stats = std::time::Instant::now();
    if !queue.send(Msg::Started) {
        return device.stats();
    }
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Batch::default();
        let polled = device.poll(WAIT, &mut |p| batch.push(p));
        if !batch.is_empty() && !queue.send(Msg::Packets(batch)) {
            break;
        }
        if let Err(e) = polled {
            queue.send(Msg::End(End {
                warning: Some(e),
                recorded_end: None,
            }));
            break;
        }
        if last_stats.elapsed() >= STATS_EVERY {
            last_stats = std::time::Instant::now();
            if let Some(k) = device.stats() {
                if !queue.send(Msg::Kernel(k)) {
                    break;
                }
            }
        }
    }
    device.stats()
}

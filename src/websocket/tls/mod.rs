//! TLS as the wire shows it without keys (wss): record boundaries, each
//! evidence that its sender is writing ([`record`]), and the two hellos
//! sent in the clear, which say the server name, the application protocol
//! and the version ([`hello`]).

pub mod hello;
pub mod record;

pub use hello::{ClientHello, Hello, HelloError, HelloReader, HelloStep, ServerHello};
pub use record::{record_header, RecordEvent, RecordReader};

use crate::evidence::Moment;
use crate::side::Side;

/// RFC 8446 §5.1 content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
pub const HANDSHAKE: u8 = 22;

/// One direction of a TLS connection: its records, and the hello it
/// begins with.
#[derive(Clone, Debug, Default)]
pub struct TlsReader {
    pub records: RecordReader,
    hello: HelloReader,
    /// The direction began with a record header (not mid-record).
    began: bool,
    /// Its hello, and where it was complete (the ServerHello after a
    /// HelloRetryRequest, if there was one).
    read: Option<(Hello, Moment)>,
    unread: Option<HelloError>,
}

impl TlsReader {
    /// A reader for a direction that `began` with a record header (else
    /// the capture began mid-record, and boundaries are lost).
    pub fn new(began: bool) -> Self {
        TlsReader {
            began,
            ..TlsReader::default()
        }
    }

    /// Whether the direction began with a TLS record header.
    pub fn began(&self) -> bool {
        self.began
    }

    /// Reads in-order bytes; `record(len)` gets each record's length. A
    /// handshake record's payload goes to the hello; a ChangeCipherSpec
    /// (sent around a HelloRetryRequest in middlebox compatibility mode,
    /// RFC 8446 §D.4) is passed over; any other record ends the search.
    pub fn on_data(&mut self, bytes: &[u8], now: Moment, mut record: impl FnMut(u64)) {
        let (hello, read, unread) = (&mut self.hello, &mut self.read, &mut self.unread);
        self.records.on_data(bytes, |event| {
            if let RecordEvent::Record { len, .. } = event {
                record(len);
            }
            if hello.is_done() {
                return;
            }
            let step = match event {
                RecordEvent::Record { kind, .. } if kind == HANDSHAKE => return,
                RecordEvent::Record { kind, .. } if kind == CHANGE_CIPHER_SPEC => return,
                RecordEvent::Record { .. } => hello.interrupt(),
                RecordEvent::Payload { kind, bytes } if kind == HANDSHAKE => hello.push(bytes),
                RecordEvent::Payload { .. } => return,
            };
            take(step, now, read, unread);
        });
    }

    /// `len` bytes of the stream are missing: record boundaries may be
    /// lost, and a hello still being collected cannot be completed.
    pub fn on_gap(&mut self, len: u64) {
        self.records.on_gap(len);
        let step = self.hello.interrupt();
        take(step, Moment::default(), &mut self.read, &mut self.unread);
    }
}

fn take(
    step: HelloStep,
    now: Moment,
    read: &mut Option<(Hello, Moment)>,
    unread: &mut Option<HelloError>,
) {
    match step {
        HelloStep::NeedMore => {}
        HelloStep::Read(hello) => *read = Some((hello, now)),
        HelloStep::Failed(e) => *unread = Some(e),
    }
}

/// What a connection's hellos said, for the report: a view of its two
/// directions' [`TlsReader`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsSeen<'a> {
    /// The ClientHello, and where it was complete.
    pub client_hello: Option<(&'a ClientHello, Moment)>,
    /// The ServerHello (the one after a HelloRetryRequest, if any).
    pub server_hello: Option<(&'a ServerHello, Moment)>,
    /// The side that sent the ClientHello: the client (RFC 8446 §4.1.2).
    pub client_side: Option<Side>,
    /// Why a hello that began in the capture was not read. A direction
    /// whose capture began after its hello has none.
    pub unread: Option<HelloError>,
}

impl<'a> TlsSeen<'a> {
    /// Adds what `side`'s reader found.
    pub fn add(&mut self, side: Side, reader: &'a TlsReader) {
        match &reader.read {
            Some((Hello::Client(h), at)) if self.client_hello.is_none() => {
                self.client_hello = Some((h, *at));
                self.client_side = Some(side);
            }
            Some((Hello::Server(h), at)) if self.server_hello.is_none() => {
                self.server_hello = Some((h, *at));
            }
            _ => {}
        }
        self.unread = self.unread.or(reader.unread);
    }
}

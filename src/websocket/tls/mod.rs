//! TLS (wss). Without keys, as the wire shows it: record boundaries, each
//! evidence that its sender is writing ([`record`]), and the two hellos
//! sent in the clear, which say the server name, the application protocol
//! and the version ([`hello`]). With the connection's secrets (a key log,
//! [`keylog`]), its records are decrypted ([`suite`], [`decrypt`]) and the
//! application data read as ws bytes are ([`layer`]).

pub mod decrypt;
pub mod hello;
pub mod keylog;
pub mod layer;
pub mod record;
pub mod suite;

pub use decrypt::{Decryptor, Plain};
pub use hello::{ClientHello, Hello, HelloError, HelloReader, HelloStep, ServerHello};
pub use keylog::{KeyLog, KeyStore};
pub use layer::{Decryption, NotDecrypted, TlsLayer, TlsOut};
pub use record::{record_header, RecordEvent, RecordReader};

use crate::evidence::Moment;
use crate::side::Side;

/// RFC 8446 §5.1 content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
pub const HANDSHAKE: u8 = 22;

/// One direction of a TLS connection: its records, and the hello it
/// begins with.
#[derive(Debug, Default)]
pub struct TlsReader {
    pub records: RecordReader,
    hello: HelloReader,
    /// The direction began with a record header (not mid-record).
    began: bool,
    /// Its hello, and where it was complete (the ServerHello after a
    /// HelloRetryRequest, if there was one).
    read: Option<(Hello, Moment)>,
    unread: Option<HelloError>,
    /// The direction's decryptor, once its keys are known.
    decrypt: Option<Box<Decryptor>>,
}

/// What a [`TlsReader`] needs to start decrypting when it reads a
/// ServerHello, and what it leaves for the other direction.
pub struct KeyContext<'a> {
    /// Decides, from the ServerHello, both directions' decryptors (this
    /// one's first) or why not.
    pub decide: &'a mut dyn FnMut(&ServerHello) -> Option<(Decryptor, Decryptor)>,
    /// The other direction's decryptor, when decided here.
    pub other: Option<Decryptor>,
    /// Handshake records (and ChangeCipherSpecs) are not reported as
    /// records: the run has keys, and a decrypted connection is judged on
    /// its frames alone.
    pub quiet: bool,
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

    /// The ClientHello this direction began with, if it did.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        match &self.read {
            Some((Hello::Client(h), _)) => Some(h),
            _ => None,
        }
    }

    /// Starts decrypting this direction's records from the next one.
    pub fn set_decryptor(&mut self, d: Decryptor) {
        self.decrypt = Some(Box::new(d));
    }

    /// The decryptor's counts: records opened, records that failed to
    /// authenticate.
    pub fn decrypted(&self) -> Option<(u64, u64)> {
        self.decrypt.as_ref().map(|d| (d.decrypted, d.failed))
    }

    /// Reads in-order bytes. Each record goes to `out` as its length when
    /// not decrypting, else its application data as [`Plain`]. A handshake
    /// record's payload goes to the hello; a ChangeCipherSpec (sent around
    /// a HelloRetryRequest in middlebox compatibility mode, RFC 8446 §D.4)
    /// is passed over; any other record ends the search. A ServerHello
    /// read asks `ctx` for keys; with them, [`TlsOut::Decrypting`] goes out
    /// before the first plaintext.
    pub fn on_data(
        &mut self,
        bytes: &[u8],
        now: Moment,
        ctx: &mut KeyContext<'_>,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let (hello, read, unread) = (&mut self.hello, &mut self.read, &mut self.unread);
        let decrypt = &mut self.decrypt;
        self.records.on_data(bytes, |event| {
            match (event, decrypt.as_mut()) {
                (RecordEvent::Record { kind, version, len }, Some(d)) => {
                    d.begin(kind, version, len, &mut |p| out(TlsOut::Plain(p)))
                }
                (RecordEvent::Payload { bytes, .. }, Some(d)) => {
                    d.payload(bytes, &mut |p| out(TlsOut::Plain(p)))
                }
                (RecordEvent::Record { kind, len, .. }, None) => {
                    if !(ctx.quiet && matches!(kind, HANDSHAKE | CHANGE_CIPHER_SPEC)) {
                        out(TlsOut::Record(len))
                    }
                }
                (RecordEvent::Payload { .. }, None) => {}
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
            if let HelloStep::Read(Hello::Server(sh)) = &step {
                if !sh.retry && decrypt.is_none() {
                    if let Some((mine, other)) = (ctx.decide)(sh) {
                        *decrypt = Some(Box::new(mine));
                        ctx.other = Some(other);
                        out(TlsOut::Decrypting);
                    }
                }
            }
            take(step, now, read, unread);
        });
        if let Some(d) = &mut self.decrypt {
            d.idle();
        }
    }

    /// `len` bytes of the stream are missing: record boundaries may be
    /// lost, and a hello still being collected cannot be completed. When
    /// decrypting, the application bytes lost go to `out`: a gap inside a
    /// record loses that record; lost boundaries end decryption.
    pub fn on_gap(&mut self, len: u64, out: &mut dyn FnMut(TlsOut<'_>)) {
        let in_record = self.records.in_record();
        self.records.on_gap(len);
        if let Some(d) = &mut self.decrypt {
            if !self.records.is_lost() && in_record {
                d.gap(len, &mut |p| out(TlsOut::Plain(p)));
            } else if !d.is_dead() {
                d.lose();
                out(TlsOut::Plain(Plain::Lost(len)));
            }
        }
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
    /// Whether the connection was decrypted, and why not.
    pub decryption: Option<Decryption>,
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

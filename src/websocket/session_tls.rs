//! A wss session's TLS layer: the directions read as TLS go through it
//! first. Without the connection's secrets it reports records; with them,
//! the decrypted application data feeds the same readers ws bytes feed
//! (the HTTP Upgrade, then frames), and a record that cannot be read is a
//! gap in that plaintext.

use super::{Reader, Session, SessionKind, WsEvent};
use crate::evidence::Moment;
use crate::side::{PerSide, Side};
use crate::websocket::tls::{Plain, TlsOut, TlsSeen};

impl Session {
    /// What the TLS hellos said, and whether the connection was decrypted,
    /// when the session is TLS (decrypted or not).
    pub fn tls(&self) -> Option<TlsSeen<'_>> {
        match &self.tls {
            Some(layer) if self.kind == SessionKind::Tls || layer.decrypting() => {
                let had_keys = self.keys.as_ref().is_some_and(|k| !k.is_empty());
                Some(layer.seen(had_keys))
            }
            None if self.kind == SessionKind::Tls => Some(TlsSeen::default()),
            _ => None,
        }
    }

    /// Whether the TLS layer is decrypting this connection.
    pub fn decrypting(&self) -> bool {
        self.tls.as_ref().is_some_and(|l| l.decrypting())
    }

    /// `side`'s bytes through the TLS layer: records to the judge, or the
    /// plaintext to the readers.
    pub(super) fn through_tls(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: Moment,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        let Some(mut layer) = self.tls.take() else {
            return;
        };
        let keys = self.keys.take();
        layer.on_data(side, bytes, now, keys.as_deref(), &mut |out| {
            self.on_tls_out(side, out, now, emit)
        });
        self.tls = Some(layer);
        self.keys = keys;
    }

    /// A gap in a direction read as TLS.
    pub(super) fn tls_gap(
        &mut self,
        side: Side,
        len: u64,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        let Some(mut layer) = self.tls.take() else {
            return;
        };
        layer.on_gap(side, len, &mut |out| {
            self.on_tls_out(side, out, Moment::default(), emit)
        });
        self.tls = Some(layer);
    }

    fn on_tls_out(
        &mut self,
        side: Side,
        out: TlsOut<'_>,
        now: Moment,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        match out {
            TlsOut::Record(len) => emit(side, WsEvent::Record { len }),
            // The plaintext is read from its start, as a ws connection is.
            TlsOut::Decrypting => {
                self.kind = SessionKind::Undecided;
                self.readers = PerSide::new(Reader::Start, Reader::Start);
            }
            TlsOut::Plain(Plain::Data(bytes)) => self.feed(side, bytes, now, emit),
            TlsOut::Plain(Plain::Lost(len)) => self.plain_gap(side, len, emit),
        }
    }
}

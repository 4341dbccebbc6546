//! The two ends of a connection, and per-side storage indexed by them.

use serde::Serialize;

/// Which endpoint of a connection: the one that opened it or the one that
/// accepted it (see `RoleSource` for how we decided).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// One value per side, indexed by `Side`, so per-direction code is written
/// once instead of twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PerSide<T> {
    pub client: T,
    pub server: T,
}

impl<T> PerSide<T> {
    pub fn new(client: T, server: T) -> Self {
        PerSide { client, server }
    }

    /// Both sides and the other one, for rules that read one direction and
    /// write the reverse (an ACK from one side acknowledges the other's data).
    pub fn pair_mut(&mut self, side: Side) -> (&mut T, &mut T) {
        match side {
            Side::Client => (&mut self.client, &mut self.server),
            Side::Server => (&mut self.server, &mut self.client),
        }
    }

    pub fn swap(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
    }

    pub fn map<U>(&self, mut f: impl FnMut(Side, &T) -> U) -> PerSide<U> {
        PerSide {
            client: f(Side::Client, &self.client),
            server: f(Side::Server, &self.server),
        }
    }
}

impl<T> std::ops::Index<Side> for PerSide<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }
}

impl<T> std::ops::IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

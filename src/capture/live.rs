//! Live capture from an interface through libpcap (the `live` feature).

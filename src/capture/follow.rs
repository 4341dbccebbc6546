//! A capture file read while it is written (`wspulse live -r FILE`): at
//! its end, wait for more rather than stop, as `tail -f` does.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the end of a followed file is looked at again.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Reads a regular file; where it ends, waits [`FOLLOW_POLL`] and reads
/// again, until `stop` is set: then its end is the end of input.
pub struct Follow {
    file: File,
    stop: Arc<AtomicBool>,
}

impl Follow {
    /// Follows `file` from where it stands until `stop` is set.
    pub fn new(file: File, stop: Arc<AtomicBool>) -> Self {
        Follow { file, stop }
    }
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || buf.is_empty() || self.stop.load(Ordering::Relaxed) {
                return Ok(n);
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Bytes appended after the reader reached the end are read; once
    /// stopped, the end is the end.
    #[test]
    fn reads_what_is_appended_then_ends_when_stopped() {
        let path = std::env::temp_dir().join(format!("wspulse-follow-{}", std::process::id()));
        let mut writer = File::create(&path).unwrap();
        writer.write_all(b"ab").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut follow = Follow::new(File::open(&path).unwrap(), stop.clone());
        let mut buf = [0u8; 8];
        assert_eq!(follow.read(&mut buf).unwrap(), 2);
        // The writer appends while the reader waits at the end.
        let appender = std::thread::spawn(move || {
            writer.write_all(b"cd").unwrap();
            writer
        });
        let n = follow.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"cd");
        drop(appender.join().unwrap());
        stop.store(true, Ordering::Relaxed);
        assert_eq!(follow.read(&mut buf).unwrap(), 0);
        std::fs::remove_file(&path).unwrap();
    }
}

//! Where a report goes: stdout, a file written atomically (analyze), or a
//! file appended to record by record (the live tap's `-o`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the report goes: stdout, where a closed pipe (`| head`) is a
/// normal end, or `-o FILE`, written to a temporary file beside it and
/// renamed into place, so a reader never sees half a report; or, for a
/// report that never ends (the live tap), appended to FILE. Output streams:
/// nothing holds the whole report in memory.
pub enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    /// Held in memory until the run succeeds (an `--at` instant to check).
    Held(Vec<u8>),
    /// `-o` naming something other than a regular file (a device, a FIFO).
    Direct {
        out: io::BufWriter<std::fs::File>,
        path: PathBuf,
    },
    File {
        out: io::BufWriter<std::fs::File>,
        tmp: PathBuf,
        path: PathBuf,
    },
    /// Appended to, never truncated: what a log shipper tails.
    Append {
        out: io::BufWriter<std::fs::File>,
        path: PathBuf,
    },
    /// The reader went away: write nothing more.
    Closed,
}

impl Sink {
    pub fn open(path: Option<&Path>, hold: bool) -> Result<Sink, String> {
        let Some(path) = path else {
            if hold {
                return Ok(Sink::Held(Vec::new()));
            }
            return Ok(Sink::Stdout(io::BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        // Not a regular file (/dev/null, a FIFO, /dev/stdout): write into
        // it; renaming over it would replace the device or pipe itself.
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                return Ok(Sink::Direct {
                    out: io::BufWriter::new(file),
                    path: path.to_path_buf(),
                });
            }
        }
        // A symlink to a file: replace the file it points to, not the link.
        let resolved = path.canonicalize().ok();
        let path = resolved.as_deref().unwrap_or(path);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| format!("{}: not a file name", path.display()))?;
        let tmp = dir.join(format!(
            ".{}.wspulse-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        // A report replaced keeps the permissions it had (one made with
        // --show-secrets may have been chmod 600).
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = file.set_permissions(meta.permissions());
        }
        Ok(Sink::File {
            out: io::BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// `-o FILE` opened to append (created if missing, never truncated,
    /// so someone's log is not lost); stdout without one. Records are
    /// written whole: call [`Sink::flush`] after each.
    pub fn append(path: Option<&Path>) -> Result<Sink, String> {
        let Some(path) = path else {
            return Ok(Sink::Stdout(io::BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Sink::Append {
            out: io::BufWriter::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Hands what was written so far to the reader (a tailing shipper, a
    /// pipe): called after each record of a stream.
    pub fn flush(&mut self) -> Result<(), String> {
        let result = match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Direct { out, .. } | Sink::Append { out, .. } => out.flush(),
            Sink::Held(_) | Sink::File { .. } | Sink::Closed => Ok(()),
        };
        self.check(result)
    }

    /// The reader of stdout went away (`| head`): nothing more is wanted.
    pub fn is_closed(&self) -> bool {
        matches!(self, Sink::Closed)
    }

    pub fn write(
        &mut self,
        f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), String> {
        let result = match self {
            Sink::Stdout(out) => f(out),
            Sink::Held(out) => f(out),
            Sink::Direct { out, .. } => f(out),
            Sink::File { out, .. } | Sink::Append { out, .. } => f(out),
            Sink::Closed => Ok(()),
        };
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> Result<(), String> {
        match (result, &*self) {
            (Ok(()), _) => Ok(()),
            (Err(e), Sink::Stdout(_)) if e.kind() == io::ErrorKind::BrokenPipe => {
                *self = Sink::Closed;
                Ok(())
            }
            (Err(e), Sink::File { tmp, .. }) => {
                let _ = std::fs::remove_file(tmp);
                Err(format!("{}: {e}", tmp.display()))
            }
            (Err(e), Sink::Append { path, .. } | Sink::Direct { path, .. }) => {
                Err(format!("{}: {e}", path.display()))
            }
            (Err(e), _) => Err(format!("stdout: {e}")),
        }
    }

    /// Gives up: a partly written `-o` file is removed.
    pub fn abort(&mut self) {
        if let Sink::File { tmp, .. } = std::mem::replace(self, Sink::Closed) {
            let _ = std::fs::remove_file(tmp);
        }
    }

    pub fn finish(mut self) -> Result<(), String> {
        match std::mem::replace(&mut self, Sink::Closed) {
            Sink::Direct { mut out, path } => {
                out.flush().map_err(|e| format!("{}: {e}", path.display()))
            }
            Sink::Append { mut out, path } => out
                .flush()
                .and_then(|()| out.get_ref().sync_all())
                .map_err(|e| format!("{}: {e}", path.display())),
            Sink::Held(held) => {
                let mut out = io::stdout().lock();
                let result = out.write_all(&held).and_then(|()| out.flush());
                self = Sink::Stdout(io::BufWriter::new(io::stdout()));
                self.check(result)
            }
            Sink::Stdout(mut out) => {
                let result = out.flush();
                self = Sink::Stdout(out);
                self.check(result)
            }
            Sink::File { out, tmp, path } => {
                let result = out
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|file| file.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &path));
                if let Err(e) = result {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("{}: {e}", path.display()));
                }
                Ok(())
            }
            Sink::Closed => Ok(()),
        }
    }
}

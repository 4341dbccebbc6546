//! A progress bar on stderr while `analyze` reads large captures (bytes
//! read, rate, ETA), as a long copy shows one; silent when stderr is not a
//! terminal or the input is small or a stream, so logs and pipes get no
//! control characters.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::capture::file::Input;
use crate::capture::progress::bytes_read;

/// Inputs smaller than this in all read too fast for a bar to help.
pub const MIN_BYTES: u64 = 256 << 20;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// A bar drawn by its own thread until [`Progress::finish`] (or drop).
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar for reading `inputs`, when stderr is a terminal and they are
    /// regular files of [`MIN_BYTES`] or more in all; `None` otherwise.
    pub fn start(inputs: &[Input]) -> Option<Progress> {
        if !std::io::stderr().is_terminal() || inputs.contains(&Input::Stdin) {
            return None;
        }
        let total: u64 = inputs
            .iter()
            .filter_map(|i| match i {
                Input::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                Input::Stdin => None,
            })
            .sum();
        if total < MIN_BYTES {
            return None;
        }
        let start = bytes_read();
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                bar.set_position((bytes_read() - start).min(total));
                std::thread::sleep(TICK);
            }
            bar.finish_and_clear();
        });
        Some(Progress {
            stop,
            thread: Some(thread),
        })
    }

    /// Clears the bar (before the report's own lines reach stderr).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

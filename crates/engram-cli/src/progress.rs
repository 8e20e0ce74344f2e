//! A progress bar on standard error for large transfers: bytes done of
//! the total, percent and rate, redrawn in place at most every 200 ms. It
//! wraps the reader or writer the bytes go through, and shows only when
//! standard error is a terminal and the transfer is over 8 MiB.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Transfers up to this size get no bar.
pub const THRESHOLD_BYTES: u64 = 8 * 1024 * 1024;
/// Shortest time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
const MIB: f64 = 1024.0 * 1024.0;

/// A reader or writer counting the bytes through it, with a bar.
pub struct Progress<T> {
    inner: T,
    bar: Option<Bar>,
}

struct Bar {
    label: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    /// The last redraw (the start before the first, so a rate is measured
    /// over at least one interval).
    drawn: Instant,
}

impl<T> Progress<T> {
    /// Wraps `inner`; `total` is the transfer's size when known (no bar
    /// without it).
    pub fn new(inner: T, label: &'static str, total: Option<u64>) -> Self {
        let show = total.is_some_and(|t| t > THRESHOLD_BYTES) && std::io::stderr().is_terminal();
        let now = Instant::now();
        let bar = show.then(|| Bar { label, total: total.unwrap_or(0), done: 0, started: now, drawn: now });
        Self { inner, bar }
    }

    fn advance(&mut self, n: usize) {
        if let Some(bar) = &mut self.bar {
            bar.done += n as u64;
            if bar.drawn.elapsed() >= REDRAW_EVERY {
                bar.draw();
            }
        }
    }
}

impl Bar {
    fn draw(&mut self) {
        let line = line(self.label, self.done, self.total, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
        self.drawn = Instant::now();
    }
}

/// One state of the bar, e.g. `upload  12.0 / 64.0 MiB  18%  35.2 MiB/s`.
pub fn line(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / MIB / secs } else { 0.0 };
    // Trailing spaces wipe what a longer previous line left.
    format!("{label} {:>8.1} / {:.1} MiB {percent:>3}% {rate:>7.1} MiB/s   ", done as f64 / MIB, total as f64 / MIB)
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl<W: Write> Write for Progress<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.advance(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The final state, then a newline (also after a failed transfer, so an
/// error message starts on its own line).
impl<T> Drop for Progress<T> {
    fn drop(&mut self) {
        if let Some(bar) = &mut self.bar {
            bar.draw();
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_bytes_percent_and_rate() {
        let l = line("upload", 12 * 1024 * 1024, 48 * 1024 * 1024, Duration::from_secs(2));
        assert!(l.starts_with("upload"), "{l}");
        assert!(l.contains("12.0 / 48.0 MiB"), "{l}");
        assert!(l.contains(" 25%"), "{l}");
        assert!(l.contains("6.0 MiB/s"), "{l}");
        assert!(line("get", 0, 0, Duration::ZERO).contains("100%"));
    }

    #[test]
    fn counts_pass_through() {
        let mut r = Progress::new(&b"hello"[..], "read", Some(5));
        let mut out = Vec::new();
        std::io::copy(&mut r, &mut out).expect("copy");
        assert_eq!(out, b"hello");
        let mut w = Progress::new(Vec::new(), "write", None);
        w.write_all(b"abc").expect("write");
        assert_eq!(w.inner, b"abc");
    }
}

//! The progress bar on stderr: redrawn in place at most ten times a second while stderr is a
//! terminal, and left out when it is not (a log or a pipe would fill with redraws).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const WIDTH: usize = 30;
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Where a run stands, in events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
}

impl Progress {
    pub fn done(&self) -> u64 {
        self.accepted + self.rejected + self.failed
    }
}

/// `[#########.....................]  3,000/10,000 events (30%)  accepted 2,990  rejected 10  retries 2`
pub fn render(p: &Progress, elapsed: Duration) -> String {
    let done = p.done().min(p.total);
    let filled = (done as u128 * WIDTH as u128)
        .checked_div(p.total as u128)
        .map_or(WIDTH, |n| n as usize);
    let percent = (done * 100).checked_div(p.total).unwrap_or(100);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let mut line = format!(
        "[{}{}] {}/{} events ({percent}%)  {}/s  accepted {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        thousands(done),
        thousands(p.total),
        thousands(rate as u64),
        thousands(p.accepted),
    );
    for (label, n) in [
        ("rejected", p.rejected),
        ("failed", p.failed),
        ("retries", p.retries),
    ] {
        if n > 0 {
            line.push_str(&format!("  {label} {}", thousands(n)));
        }
    }
    line
}

pub struct Bar {
    enabled: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl Bar {
    /// A bar on stderr, drawn only when stderr is a terminal.
    pub fn for_stderr() -> Bar {
        Bar {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            drawn: None,
        }
    }

    pub fn update(&mut self, p: &Progress) {
        if !self.enabled || self.drawn.is_some_and(|t| t.elapsed() < REDRAW_EVERY) {
            return;
        }
        self.draw(p);
    }

    /// The last state, drawn whatever the time, and the line ended.
    pub fn finish(&mut self, p: &Progress) {
        if self.enabled {
            self.draw(p);
            eprintln!();
        }
    }

    fn draw(&mut self, p: &Progress) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", render(p, self.started.elapsed()));
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_events_done() {
        let p = Progress {
            total: 10_000,
            accepted: 2_990,
            rejected: 10,
            failed: 0,
            retries: 2,
        };
        assert_eq!(
            render(&p, Duration::from_secs(2)),
            "[#########.....................] 3,000/10,000 events (30%)  1,500/s  accepted 2,990  rejected 10  retries 2"
        );
        let empty = Progress::default();
        assert!(render(&empty, Duration::ZERO)
            .starts_with(&format!("[{}] 0/0 events (100%)", "#".repeat(WIDTH))));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}

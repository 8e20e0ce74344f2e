//! Comparisons of two sides measured in the same rounds, and their tables.

use crate::measure::{Run, median};

/// One side-by-side comparison over several rounds.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub workload: String,
    /// What is measured (the numerator of the ratio).
    pub subject: String,
    /// What it is compared with (the denominator), measured in the same round.
    pub baseline: String,
    /// The lowest acceptable median ratio, if there is a goal.
    pub goal: Option<f64>,
    /// (subject, baseline) per round.
    pub rounds: Vec<(Run, Run)>,
}

impl Comparison {
    pub fn new(workload: &str, subject: &str, baseline: &str, goal: Option<f64>) -> Self {
        let (workload, subject, baseline) = (workload.to_owned(), subject.to_owned(), baseline.to_owned());
        Self { workload, subject, baseline, goal, rounds: Vec::new() }
    }

    /// Records a round and prints it at once (progress on long runs).
    pub fn record(&mut self, subject: Run, baseline: Run) {
        self.rounds.push((subject, baseline));
        let round = self.rounds.len();
        println!(
            "  round {round}: {}: {} {} ({:.1} µs CPU/op) vs {} {} ({:.1} µs CPU/op): ratio {:.2}",
            self.workload,
            self.subject,
            rate(subject.rate()),
            subject.cpu_us_per_op(),
            self.baseline,
            rate(baseline.rate()),
            baseline.cpu_us_per_op(),
            subject.rate() / baseline.rate()
        );
    }

    pub fn ratios(&self) -> Vec<f64> {
        self.rounds.iter().map(|(s, b)| s.rate() / b.rate()).collect()
    }

    pub fn median_ratio(&self) -> f64 {
        median(&self.ratios())
    }

    fn median_rate(&self, pick: impl Fn(&(Run, Run)) -> Run) -> f64 {
        median(&self.rounds.iter().map(|r| pick(r).rate()).collect::<Vec<_>>())
    }

    fn median_cpu(&self, pick: impl Fn(&(Run, Run)) -> Run) -> f64 {
        median(&self.rounds.iter().map(|r| pick(r).cpu_us_per_op()).collect::<Vec<_>>())
    }

    /// PASS, FAIL, or a dash without a goal.
    pub fn verdict(&self) -> &'static str {
        match self.goal {
            None => "-",
            Some(g) if self.median_ratio() >= g => "PASS",
            Some(_) => "FAIL",
        }
    }
}

/// Prints the summary table of every comparison.
pub fn print_summary(comparisons: &[Comparison]) {
    println!();
    println!(
        "| workload | measured | rate | CPU µs/op | compared with | rate | CPU µs/op | ratio (median) | per round | goal | result |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---:|---|---:|---|");
    for c in comparisons {
        let per_round: Vec<String> = c.ratios().iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "| {} | {} | {} | {:.1} | {} | {} | {:.1} | **{:.2}×** | {} | {} | {} |",
            c.workload,
            c.subject,
            rate(c.median_rate(|r| r.0)),
            c.median_cpu(|r| r.0),
            c.baseline,
            rate(c.median_rate(|r| r.1)),
            c.median_cpu(|r| r.1),
            c.median_ratio(),
            per_round.join(", "),
            c.goal.map_or("-".to_owned(), |g| format!("≥ {g}×")),
            c.verdict()
        );
    }
    println!();
    println!("rates are medians over rounds (ops per wall-clock second); CPU is the whole process's user+system time.");
}

/// A rate with thousands separators, e.g. `123,456/s`.
pub fn rate(per_second: f64) -> String {
    format!("{}/s", thousands(per_second.round() as u64))
}

/// `n` with commas between groups of three digits.
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
    use std::time::Duration;

    fn run(ops: u64, ms: u64) -> Run {
        Run { ops, wall: Duration::from_millis(ms), cpu: Duration::ZERO }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn verdict_uses_the_median_ratio() {
        let mut c = Comparison::new("w", "a", "b", Some(0.8));
        c.rounds =
            vec![(run(90, 1000), run(100, 1000)), (run(50, 1000), run(100, 1000)), (run(85, 1000), run(100, 1000))];
        assert!((c.median_ratio() - 0.85).abs() < 1e-9);
        assert_eq!(c.verdict(), "PASS");
        c.goal = Some(0.9);
        assert_eq!(c.verdict(), "FAIL");
    }
}

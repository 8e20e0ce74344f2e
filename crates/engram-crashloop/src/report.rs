//! The run's totals, per-cycle progress lines, and the final line.

use crate::queue_check::MessageVerdict;
use crate::queue_workload::MessageReport;
use crate::verify::Verdict;
use crate::workload::WriterReport;
use std::fmt;
use std::time::Duration;

/// Problem descriptions kept in a report (the counts are always complete).
pub const PROBLEMS_KEPT: usize = 100;

/// What a crash loop did and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub seed: u64,
    /// Kill-restart-verify cycles completed.
    pub cycles: usize,
    /// Write requests acknowledged (a transaction counts once).
    pub acknowledged: u64,
    /// Of which transactions.
    pub transactions: u64,
    /// Servers killed while starting (before the one under load).
    pub startup_kills: u64,
    /// Database servers crashed (and restarted) after a server kill.
    pub database_crashes: u64,
    /// Cycles that stopped the server with SIGTERM instead of SIGKILL.
    pub clean_stops: u64,
    /// Requests in flight when the server was killed.
    pub unknown_outcomes: u64,
    /// Of which found applied, and found not applied, after the restart.
    pub unknown_applied: u64,
    pub unknown_not_applied: u64,
    /// Hot-pair transactions refused because another writer won.
    pub conflicts: u64,
    /// Transactions refused as planned (a precondition false on purpose).
    pub refused: u64,
    /// Idempotent requests correctly answered as replays.
    pub replays: u64,
    /// Acknowledged writes not found as acknowledged (documents, change-log
    /// entries, idempotency records).
    pub lost: usize,
    /// Disagreements of the store with itself: chain, records, indexes.
    pub divergences: usize,
    /// Transactions visible in part.
    pub unknown_transactions_partial: usize,
    /// Responses that must never happen (wrong versions, 5xx, …).
    pub anomalies: usize,
    /// The first problems found, each with its cycle.
    pub problems: Vec<String>,
    /// Queue and outbox messages: figures and problems, judged at the end.
    pub messages: MessageVerdict,
    /// Receives and acks whose response was lost.
    pub message_unknown: u64,
    pub seconds: f64,
}

impl Report {
    /// Whether nothing was lost, diverged, split or answered wrongly.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.divergences == 0
            && self.unknown_transactions_partial == 0
            && self.anomalies == 0
            && self.messages.clean()
    }

    /// Adds what a producer or consumer saw in one cycle.
    pub fn add_messages(&mut self, cycle: usize, r: &MessageReport) {
        self.anomalies += r.anomalies.len();
        self.message_unknown += r.unknown;
        self.keep(cycle, "anomaly", &r.anomalies);
    }

    /// Adds what the writers of one cycle saw.
    pub fn add_writer(&mut self, cycle: usize, r: &WriterReport) {
        self.acknowledged += r.acknowledged;
        self.transactions += r.transactions;
        self.unknown_outcomes += u64::from(r.unknown.is_some());
        self.conflicts += r.conflicts;
        self.refused += r.refused;
        self.replays += r.replays;
        self.lost += r.lost.len();
        self.anomalies += r.anomalies.len();
        self.keep(cycle, "lost", &r.lost);
        self.keep(cycle, "anomaly", &r.anomalies);
    }

    /// Adds what one verification found.
    pub fn add_verdict(&mut self, cycle: usize, v: &Verdict) {
        self.unknown_applied += v.applied.iter().filter(|a| **a == Some(true)).count() as u64;
        self.unknown_not_applied += v.applied.iter().filter(|a| **a == Some(false)).count() as u64;
        self.lost += v.lost.len();
        self.divergences += v.divergences.len();
        self.unknown_transactions_partial += v.partial.len();
        self.keep(cycle, "lost", &v.lost);
        self.keep(cycle, "divergence", &v.divergences);
        self.keep(cycle, "partial", &v.partial);
    }

    fn keep(&mut self, cycle: usize, kind: &str, msgs: &[String]) {
        for m in msgs {
            if self.problems.len() < PROBLEMS_KEPT {
                self.problems.push(format!("cycle {cycle}: {kind}: {m}"));
            }
        }
    }

    /// The counts behind the final line.
    pub fn details(&self) -> String {
        format!("{}\n{}", self.document_details(), self.message_details())
    }

    fn document_details(&self) -> String {
        format!(
            "{} transactions, {} requests of unknown outcome ({} found applied, {} not), {} hot-pair conflicts, {} transactions refused as planned, {} idempotent replays, {} kills while starting, {} clean stops (SIGTERM), {} database crashes, {} unexpected responses",
            self.transactions,
            self.unknown_outcomes,
            self.unknown_applied,
            self.unknown_not_applied,
            self.conflicts,
            self.refused,
            self.replays,
            self.startup_kills,
            self.clean_stops,
            self.database_crashes,
            self.anomalies
        )
    }

    fn message_details(&self) -> String {
        let m = &self.messages;
        format!(
            "messages: {} transactions with an enqueue and a publish committed, {} of unknown outcome ({} found applied), {} refused (rolled back); {} receives, {} messages received more than once, {} stale acks (lease passed on), {} receives and acks of unknown outcome; {} outbox messages delivered to the webhook, {} more than once, {} deliveries answered 500; lost: {} from the queue, {} from the webhook; {} rolled-back messages seen, {} bad signatures, {} other problems",
            m.committed,
            m.maybe,
            m.maybe_applied,
            m.rolled_back,
            m.receives,
            m.received_twice,
            m.stale_acks,
            self.message_unknown,
            m.delivered,
            m.delivered_twice,
            m.failed_deliveries,
            m.queue_lost,
            m.webhook_lost,
            m.rolled_back_seen,
            m.bad_signatures,
            m.other
        )
    }
}

impl fmt::Display for Report {
    /// `crash loop: 100 cycles, 3141 acknowledged writes, 0 lost, 0 index
    /// divergences, 0 partial transactions; queue: 900 committed, 0 lost, 0
    /// rolled back seen, 12 received twice; webhook: 901 delivered, 0 lost,
    /// 7 delivered twice, 0 bad signatures; seed 12345, 75 s`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.messages;
        write!(
            f,
            "crash loop: {} cycles, {} acknowledged writes, {} lost, {} index divergences, {} partial transactions; \
             queue: {} committed, {} lost, {} rolled back seen, {} received twice; \
             webhook: {} delivered, {} lost, {} delivered twice, {} bad signatures; seed {}, {:.0} s",
            self.cycles,
            self.acknowledged,
            self.lost,
            self.divergences,
            self.unknown_transactions_partial,
            m.committed,
            m.queue_lost,
            m.rolled_back_seen,
            m.received_twice,
            m.delivered,
            m.webhook_lost,
            m.delivered_twice,
            m.bad_signatures,
            self.seed,
            self.seconds
        )?;
        if self.anomalies > 0 {
            write!(f, ", {} unexpected responses", self.anomalies)?;
        }
        if m.other > 0 {
            write!(f, ", {} other message problems", m.other)?;
        }
        Ok(())
    }
}

/// What happened in one cycle, for its progress line.
#[derive(Debug, Clone, Default)]
pub struct CycleStats {
    pub cycle: usize,
    pub killed_after: Duration,
    pub acknowledged: u64,
    pub unknown: usize,
    pub ready_after: Duration,
    pub verified_in: Duration,
    pub documents: usize,
    pub entries: u64,
    pub problems: usize,
    /// Producer transactions sent.
    pub messages_sent: usize,
}

impl CycleStats {
    /// One progress line; `total` is the report so far.
    pub fn line(&self, cycles: usize, total: &Report) -> String {
        format!(
            "cycle {}/{cycles}: killed after {} ms, {} acknowledged ({} in all), {} in flight, server ready in {:.2} s, verified {} documents and {} log entries in {:.2} s, {} message transactions, {} problems ({} in all)",
            self.cycle + 1,
            self.killed_after.as_millis(),
            self.acknowledged,
            total.acknowledged,
            self.unknown,
            self.ready_after.as_secs_f64(),
            self.documents,
            self.entries,
            self.verified_in.as_secs_f64(),
            self.messages_sent,
            self.problems,
            total.lost + total.divergences + total.unknown_transactions_partial + total.anomalies,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line_names_every_count() {
        let r = Report { cycles: 100, acknowledged: 3141, seed: 12345, seconds: 75.2, ..Report::default() };
        assert_eq!(
            r.to_string(),
            "crash loop: 100 cycles, 3141 acknowledged writes, 0 lost, 0 index divergences, 0 partial transactions; \
             queue: 0 committed, 0 lost, 0 rolled back seen, 0 received twice; \
             webhook: 0 delivered, 0 lost, 0 delivered twice, 0 bad signatures; seed 12345, 75 s"
        );
        assert!(r.clean());
    }

    #[test]
    fn any_problem_makes_it_unclean() {
        let v = Verdict { lost: vec!["docs/x".into()], ..Verdict::default() };
        let mut r = Report::default();
        r.add_verdict(3, &v);
        assert!(!r.clean());
        assert_eq!(r.problems, vec!["cycle 3: lost: docs/x".to_owned()]);
    }
}

//! The run's totals, per-cycle progress lines, and the final line.

use crate::object_check::{Leftovers, ObjectVerdict};
use crate::object_workload::ObjectLedger;
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
    /// Objects: puts acknowledged (of which over the multipart threshold),
    /// deletes acknowledged, requests of unknown outcome (found applied,
    /// and not).
    pub objects_acked: u64,
    pub objects_large_acked: u64,
    pub object_deletes_acked: u64,
    pub object_unknown: u64,
    pub object_unknown_applied: u64,
    pub object_unknown_not_applied: u64,
    /// Acknowledged contents (or deletes) not found after a kill.
    pub objects_lost: usize,
    /// Object records whose bytes could not be served in full.
    pub objects_dangling: usize,
    /// At the end, after the collector's time: blob files no live object
    /// holds, and files left under `tmp/`; blob files found in all.
    pub orphans_left: usize,
    pub temporaries_left: usize,
    pub blob_files: usize,
    /// How long the end waited for the collector.
    pub collect_wait_seconds: f64,
    /// Object metadata that disagrees with itself or the store at the end
    /// (reference counts, marks, bytes without a record, records left).
    pub object_metadata_problems: usize,
    /// Seconds the per-cycle object checks took in all.
    pub object_check_seconds: f64,
    /// Objects read in full by the checks, and their bytes.
    pub objects_read: u64,
    pub object_bytes_read: u64,
    pub seconds: f64,
}

impl Report {
    /// Whether nothing was lost, diverged, split or answered wrongly.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.divergences == 0
            && self.unknown_transactions_partial == 0
            && self.anomalies == 0
            && self.objects_lost == 0
            && self.objects_dangling == 0
            && self.orphans_left == 0
            && self.temporaries_left == 0
            && self.object_metadata_problems == 0
            && self.messages.clean()
    }

    /// Adds what one object check found.
    pub fn add_objects(&mut self, cycle: usize, v: &ObjectVerdict) {
        self.objects_lost += v.lost.len();
        self.objects_dangling += v.dangling.len();
        self.anomalies += v.anomalies.len();
        self.object_unknown_applied += v.applied;
        self.object_unknown_not_applied += v.not_applied;
        self.objects_read += v.objects as u64;
        self.object_bytes_read += v.bytes;
        self.keep(cycle, "object lost", &v.lost);
        self.keep(cycle, "dangling object", &v.dangling);
        self.keep(cycle, "object anomaly", &v.anomalies);
    }

    /// Adds responses to uploaders that must never happen.
    pub fn add_object_anomalies(&mut self, cycle: usize, anomalies: &[String]) {
        self.anomalies += anomalies.len();
        self.keep(cycle, "object anomaly", anomalies);
    }

    /// Takes the object ledger's running totals.
    pub fn set_object_totals(&mut self, l: &ObjectLedger) {
        self.objects_acked = l.puts_acked;
        self.objects_large_acked = l.large_acked;
        self.object_deletes_acked = l.deletes_acked;
        self.object_unknown = l.unknown;
    }

    /// Adds divergences found at the end (after the last cycle).
    pub fn add_end_divergences(&mut self, kind: &str, problems: &[String]) {
        self.divergences += problems.len();
        self.keep_end(kind, problems);
    }

    /// Adds what the end found in the store's files.
    pub fn add_leftovers(&mut self, left: &Leftovers) {
        self.orphans_left = left.orphans.len();
        self.temporaries_left = left.temporaries.len();
        self.blob_files = left.blob_files;
        self.collect_wait_seconds = left.waited.as_secs_f64();
        self.keep_end("orphan blob", &left.orphans);
        self.keep_end("temporary file left", &left.temporaries);
    }

    /// Adds what the offline metadata check at the end found.
    pub fn add_object_metadata(&mut self, problems: &[String]) {
        self.object_metadata_problems = problems.len();
        self.keep_end("object metadata", problems);
    }

    fn keep_end(&mut self, kind: &str, msgs: &[String]) {
        for m in msgs {
            if self.problems.len() < PROBLEMS_KEPT {
                self.problems.push(format!("end: {kind}: {m}"));
            }
        }
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
        format!("{}\n{}\n{}", self.document_details(), self.message_details(), self.object_details())
    }

    fn object_details(&self) -> String {
        format!(
            "objects: {} puts acknowledged ({} over 8 MiB), {} deletes acknowledged, {} requests of unknown outcome ({} found applied, {} not); {} objects ({:.1} MiB) read back verified; lost: {}, dangling references: {}; at the end {} blob files, {} orphans left, {} temporary files left (after {:.1} s of collection), {} metadata problems; object checks took {:.1} s in all",
            self.objects_acked,
            self.objects_large_acked,
            self.object_deletes_acked,
            self.object_unknown,
            self.object_unknown_applied,
            self.object_unknown_not_applied,
            self.objects_read,
            self.object_bytes_read as f64 / f64::from(1u32 << 20),
            self.objects_lost,
            self.objects_dangling,
            self.blob_files,
            self.orphans_left,
            self.temporaries_left,
            self.collect_wait_seconds,
            self.object_metadata_problems,
            self.object_check_seconds
        )
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
    /// 7 delivered twice, 0 bad signatures; objects: 190 acked, 0 lost, 0
    /// dangling, 0 orphans left; seed 12345, 75 s` (orphans: blob files no
    /// live object holds, and files left under `tmp/`)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.messages;
        write!(
            f,
            "crash loop: {} cycles, {} acknowledged writes, {} lost, {} index divergences, {} partial transactions; \
             queue: {} committed, {} lost, {} rolled back seen, {} received twice; \
             webhook: {} delivered, {} lost, {} delivered twice, {} bad signatures; \
             objects: {} acked, {} lost, {} dangling, {} orphans left; seed {}, {:.0} s",
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
            self.objects_acked,
            self.objects_lost,
            self.objects_dangling,
            self.orphans_left + self.temporaries_left,
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
    /// Object puts and deletes answered or in flight; objects read back by
    /// the check at the start, and how long it took.
    pub object_ops: usize,
    pub objects: usize,
    pub objects_checked_in: Duration,
}

impl CycleStats {
    /// One progress line; `total` is the report so far.
    pub fn line(&self, cycles: usize, total: &Report) -> String {
        format!(
            "cycle {}/{cycles}: killed after {} ms, {} acknowledged ({} in all), {} in flight, server ready in {:.2} s, verified {} documents and {} log entries in {:.2} s, {} message transactions, {} object requests, {} objects checked in {:.2} s, {} problems ({} in all)",
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
            self.object_ops,
            self.objects,
            self.objects_checked_in.as_secs_f64(),
            self.problems,
            total.lost
                + total.divergences
                + total.unknown_transactions_partial
                + total.anomalies
                + total.objects_lost
                + total.objects_dangling,
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
             webhook: 0 delivered, 0 lost, 0 delivered twice, 0 bad signatures; \
             objects: 0 acked, 0 lost, 0 dangling, 0 orphans left; seed 12345, 75 s"
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

//! The dispatcher: one thread that finds endpoints with messages due and
//! hands each to a delivery thread (one per endpoint at a time, so an
//! endpoint's messages go out in order), woken by commits and by retry
//! times. One server of a database dispatches at a time (a lease).

use crate::webhooks::WebhookSettings;
use crate::webhooks::sign::signature;
use crate::webhooks::ssrf;
use engram::{CIRCUIT_OPEN_FAILURES, DeliveryAttempt, Due, Engine, Outcome, Space, WebhookTarget};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The lease one server of a database holds to dispatch.
const LEASE: &str = "engram.webhooks";
/// Longest the dispatcher sleeps without a wake-up (it then looks for work
/// committed through other servers, and for retries come due).
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// Shortest time between two passes: a busy server commits thousands of
/// times a second, and each commit wakes the dispatcher.
const PASS_INTERVAL_MIN: Duration = Duration::from_millis(50);
/// How often the list of spaces that have endpoints is read again (a new
/// endpoint in a space without one is found within this time).
const SPACES_REFRESH: Duration = Duration::from_secs(2);
/// Messages one delivery thread sends before it lets the endpoint go.
const BATCH: usize = 50;
/// Bytes of an endpoint's answer read (and kept in an error) at most.
const ANSWER_BYTES_MAX: u64 = 1024;

/// A running dispatcher; stops when dropped.
pub struct Dispatcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts dispatching for `engine`.
pub fn start(engine: Engine, settings: WebhookSettings) -> Dispatcher {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("engram-webhooks".into())
        .spawn(move || engram::with_actor(engram::Actor::engine("webhooks"), || run(&engine, &settings, &flag)))
        .expect("spawn the webhook dispatcher");
    Dispatcher { stop, thread: Some(thread) }
}

/// Endpoints being delivered to, by (space, endpoint).
type Busy = Arc<Mutex<HashSet<(String, String)>>>;

fn run(engine: &Engine, settings: &WebhookSettings, stop: &AtomicBool) {
    let agent = agent(settings);
    let busy: Busy = Arc::default();
    let any = engine.watch_all();
    let mut spaces = SpacesWithEndpoints::default();
    while !stop.load(Ordering::SeqCst) {
        let seen = any.generation();
        let started = Instant::now();
        let wait = match engine.try_lease(LEASE) {
            Ok(true) => spaces
                .current(engine)
                .and_then(|names| pass(engine, names, settings, &agent, &busy))
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e.message(), "webhook dispatch pass failed");
                    IDLE_WAKE
                }),
            Ok(false) => IDLE_WAKE,
            Err(e) => {
                tracing::warn!(error = %e.message(), "taking the webhook lease failed");
                IDLE_WAKE
            }
        };
        any.wait(seen, wait.min(IDLE_WAKE));
        if let Some(rest) = PASS_INTERVAL_MIN.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

/// The spaces that have webhook endpoints, read again every
/// [`SPACES_REFRESH`] (a pass then reads only those spaces' endpoints, not
/// every space's).
#[derive(Default)]
struct SpacesWithEndpoints {
    names: Vec<String>,
    read_at: Option<Instant>,
}

impl SpacesWithEndpoints {
    fn current(&mut self, engine: &Engine) -> engram::Result<&[String]> {
        if self.read_at.is_none_or(|t| t.elapsed() >= SPACES_REFRESH) {
            let mut names = Vec::new();
            for info in engine.spaces()? {
                let Ok(space) = engine.space(&info.name) else { continue };
                if !space.webhooks()?.is_empty() {
                    names.push(info.name);
                }
            }
            self.names = names;
            self.read_at = Some(Instant::now());
        }
        Ok(&self.names)
    }
}

fn agent(settings: &WebhookSettings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(settings.timeout))
        .user_agent("engram-webhooks")
        .build()
        .into()
}

/// Starts a delivery thread for every endpoint with something due; returns
/// how long until the next retry comes due.
fn pass(
    engine: &Engine,
    spaces: &[String],
    settings: &WebhookSettings,
    agent: &ureq::Agent,
    busy: &Busy,
) -> engram::Result<Duration> {
    let now = wall_ms();
    let mut next = IDLE_WAKE;
    for name in spaces {
        let Ok(space) = engine.space(name) else { continue };
        for ep in space.webhooks()? {
            if ep.next_attempt_at_ms > now {
                next = next.min(Duration::from_millis(ep.next_attempt_at_ms - now));
                continue;
            }
            let key = (name.clone(), ep.name.clone());
            {
                let mut b = busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if b.contains(&key) || b.len() >= settings.concurrency {
                    continue;
                }
                b.insert(key.clone());
            }
            let (space, settings, agent, busy) = (space.clone(), settings.clone(), agent.clone(), busy.clone());
            let actor = engram::current_actor();
            let spawned = std::thread::Builder::new().name("engram-webhook".into()).spawn(move || {
                engram::with_actor(actor, || deliver_batch(&space, &key.1, &settings, &agent));
                busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "starting a webhook delivery thread failed");
            }
        }
    }
    Ok(next)
}

/// Delivers the endpoint's due messages in order, up to [`BATCH`].
fn deliver_batch(space: &Space, endpoint: &str, settings: &WebhookSettings, agent: &ureq::Agent) {
    for _ in 0..BATCH {
        let due = match space.webhook_due(endpoint) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(endpoint, error = %e.message(), "reading a webhook's next message failed");
                return;
            }
        };
        let (target, due) = due;
        let attempt = attempt_once(agent, settings, &target, &due);
        let outcome = outcome(settings, &due, &attempt, target.consecutive_failures);
        let delivered = outcome == Outcome::Delivered;
        if let Err(e) = space.record_webhook_attempt(endpoint, &due, &attempt, &outcome) {
            tracing::warn!(endpoint, error = %e.message(), "recording a webhook attempt failed");
            return;
        }
        if !delivered {
            return;
        }
    }
}

/// What the schedule makes of an attempt.
fn outcome(settings: &WebhookSettings, due: &Due, attempt: &DeliveryAttempt, failures: u32) -> Outcome {
    if attempt.delivered {
        return Outcome::Delivered;
    }
    let now = wall_ms();
    let made = attempt.attempt as usize;
    if due.replay {
        return Outcome::GiveUp { next_at_ms: now };
    }
    match settings.schedule.get(made - 1) {
        Some(delay) => Outcome::Retry { at_ms: now + delay.as_millis() as u64 },
        None => {
            // The circuit breaker: an endpoint failing message after message
            // is not tried at once for the next one.
            let open = failures + 1 >= CIRCUIT_OPEN_FAILURES;
            let pause = if open { settings.schedule.last().copied().unwrap_or_default() } else { Duration::ZERO };
            Outcome::GiveUp { next_at_ms: now + pause.as_millis() as u64 }
        }
    }
}

/// One POST of a message, signed; never returns an error (a failure is an
/// outcome).
fn attempt_once(agent: &ureq::Agent, settings: &WebhookSettings, target: &WebhookTarget, due: &Due) -> DeliveryAttempt {
    let started = Instant::now();
    let at_ms = wall_ms();
    let mut record = DeliveryAttempt {
        message_id: due.message_id.clone(),
        position: due.position,
        attempt: due.attempt + 1,
        status: None,
        error: None,
        latency_ms: 0,
        at_ms,
        delivered: false,
    };
    let result = ssrf::check(&target.url, settings.allow_private).and_then(|()| post(agent, target, due, at_ms / 1000));
    record.latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok((status, answer)) => {
            record.status = Some(status);
            record.delivered = (200..300).contains(&status);
            if !record.delivered {
                record.error = Some(format!("HTTP {status}: {answer}"));
            }
        }
        Err(e) => record.error = Some(e),
    }
    record
}

/// Sends the message; returns the status and the start of the answer.
fn post(agent: &ureq::Agent, target: &WebhookTarget, due: &Due, timestamp: u64) -> Result<(u16, String), String> {
    let body = serde_json::json!({
        "type": due.topic,
        "timestamp": rfc3339(timestamp),
        "data": due.payload,
    })
    .to_string();
    let sig = signature(&target.key, &due.message_id, timestamp, body.as_bytes());
    let mut res = agent
        .post(&target.url)
        .header("content-type", "application/json")
        .header("webhook-id", &due.message_id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &sig)
        .send(body.as_bytes())
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = res.status().as_u16();
    let answer = res.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_string().unwrap_or_default();
    Ok((status, answer.chars().take(200).collect()))
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (proleptic Gregorian calendar).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_614_265_330), "2021-02-25T15:02:10Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn the_schedule_retries_then_gives_up_and_the_circuit_pauses() {
        let settings = WebhookSettings {
            schedule: vec![Duration::from_secs(5), Duration::from_secs(60)],
            ..WebhookSettings::default()
        };
        let due = Due {
            message_id: "m".into(),
            position: 1,
            topic: "t".into(),
            payload: serde_json::Value::Null,
            attempt: 0,
            replay: false,
        };
        let failed = |n: u32| DeliveryAttempt {
            message_id: "m".into(),
            position: 1,
            attempt: n,
            status: Some(500),
            error: None,
            latency_ms: 1,
            at_ms: 0,
            delivered: false,
        };
        assert!(matches!(outcome(&settings, &due, &failed(1), 0), Outcome::Retry { .. }));
        assert!(matches!(outcome(&settings, &due, &failed(2), 1), Outcome::Retry { .. }));
        let now = wall_ms();
        match outcome(&settings, &due, &failed(3), 2) {
            Outcome::GiveUp { next_at_ms } => assert!(next_at_ms <= now + 1_000, "circuit still closed"),
            o => panic!("{o:?}"),
        }
        match outcome(&settings, &due, &failed(3), 10) {
            Outcome::GiveUp { next_at_ms } => assert!(next_at_ms >= now + 59_000, "circuit open: paused"),
            o => panic!("{o:?}"),
        }
    }
}

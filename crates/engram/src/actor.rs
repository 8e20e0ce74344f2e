//! Who is writing: the actor and request id every change-log entry records.
//!
//! A caller sets them around its engine calls with [`with_actor`] (the
//! server does, per request, with the API key's id and the request id);
//! a write captures them on the caller's thread before its transaction
//! runs (on whichever thread the backend runs it). A call made outside any
//! [`with_actor`] is recorded as [`Actor::LOCAL`]: a library user's own call.

use engram_core::{Error, Result};
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

/// Longest actor id and request id, in bytes.
pub const ACTOR_BYTES_MAX: usize = 128;

/// Who made a change and in which request. Cloning is a reference count
/// (a server re-enters its request's actor at every poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(Arc<Names>);

#[derive(Debug, PartialEq, Eq)]
struct Names {
    id: String,
    request_id: String,
}

impl Actor {
    /// The actor of a library call.
    pub const LOCAL: &'static str = "local";

    /// An actor: `id` is 1–128 printable ASCII bytes (`key:<key id>`,
    /// `local`, `engram:<task>`), `request_id` at most 128 (empty when the
    /// change has no request).
    pub fn new(id: impl Into<String>, request_id: impl Into<String>) -> Result<Self> {
        let (id, request_id) = (id.into(), request_id.into());
        check("actor id", &id, false)?;
        check("request id", &request_id, true)?;
        Ok(Self(Arc::new(Names { id, request_id })))
    }

    /// A library call, in request `request_id` (empty for none; must pass
    /// [`Actor::new`]'s checks, else it is left out).
    pub fn local(request_id: &str) -> Self {
        Self::new(Self::LOCAL, request_id).unwrap_or_else(|_| Self::unchecked(Self::LOCAL.into()))
    }

    /// The engine's own background work (`engram:<task>`, a task name of
    /// at most 64 ASCII letters, digits and `-`).
    pub fn engine(task: &str) -> Self {
        debug_assert!(task.len() <= 64 && task.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        Self::unchecked(format!("engram:{task}"))
    }

    fn unchecked(id: String) -> Self {
        Self(Arc::new(Names { id, request_id: String::new() }))
    }

    pub fn id(&self) -> &str {
        &self.0.id
    }

    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }
}

fn check(what: &str, s: &str, empty_ok: bool) -> Result<()> {
    if s.is_empty() && !empty_ok {
        return Err(Error::invalid(format!("the {what} is empty")));
    }
    if s.len() > ACTOR_BYTES_MAX {
        return Err(Error::invalid(format!("the {what} is longer than {ACTOR_BYTES_MAX} bytes")));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(format!("the {what} must be printable ASCII without spaces")));
    }
    Ok(())
}

thread_local! {
    static CURRENT: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

/// Runs `f` with `actor` recorded on every change it writes (nested calls
/// restore the outer actor when they return, even by panic).
pub fn with_actor<R>(actor: Actor, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Actor>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = outer);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(actor)));
    f()
}

/// Replaces the actor of the innermost [`with_actor`] on this thread until
/// it returns (a server learns who is calling in the middle of a poll).
/// Outside any [`with_actor`], the actor stays set on the thread.
pub fn set_current_actor(actor: Actor) {
    CURRENT.with(|c| *c.borrow_mut() = Some(actor));
}

/// The actor a write on this thread records now: for code that hands
/// engine work to another thread (re-entered there with [`with_actor`]).
pub fn current_actor() -> Actor {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| Actor::local(""))
}

/// Runs `fut` with `actor` set around each of its polls: the actor of the
/// engine calls an async task makes (and of the work it hands to blocking
/// threads through [`current_actor`]).
pub async fn with_actor_async<F: Future>(actor: Actor, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| with_actor(actor.clone(), || fut.as_mut().poll(cx))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_and_validated() {
        assert_eq!(current_actor().id(), "local");
        let a = Actor::new("key:abc", "req-1").expect("valid");
        with_actor(a.clone(), || {
            assert_eq!(current_actor(), a);
            with_actor(Actor::new("key:b", "").expect("valid"), || assert_eq!(current_actor().id(), "key:b"));
            assert_eq!(current_actor(), a);
        });
        assert_eq!(current_actor().id(), "local");
        assert!(Actor::new("", "").is_err());
        assert!(Actor::new("a b", "").is_err());
        assert!(Actor::new("a", "x".repeat(129)).is_err());
        assert!(Actor::new("a\n", "").is_err());
    }
}

//! bcrypt checks on their own threads, behind a bounded, fair admission.
//!
//! A check at cost 12 takes about a quarter of a second of CPU. On the shared blocking
//! pool a burst of logins would hold every thread that token requests need; here a few
//! threads at the lowest CPU priority take them, yielding between bcrypt rounds, and token
//! requests keep flowing.
//!
//! Two things keep a burst from starving everyone else's logins:
//! - admission ([`PasswordChecker::admit`]): at most `queue_limit` checks wait or run at
//!   once, and at most a few of them for one username or one address. A full queue answers
//!   at once (the caller says 503 with `Retry-After`), not after a minute in line;
//! - the starvation guard: `SCHED_IDLE` threads may never run while the token endpoint keeps
//!   both cores busy. A watcher thread at normal priority looks every 50 ms: a check still
//!   queued after [`PROMOTE_AFTER`] it takes and runs itself (no privilege needed), and while
//!   the oldest admitted check is overdue it also moves the password threads to the normal
//!   policy, where the system allows it (CAP_SYS_NICE or RLIMIT_NICE), so that checks they
//!   already hold finish too. Either way a login still finishes within a second or two.
//!
//! Over 400 lines on purpose: admission, the threads and the starvation guard share one
//! line's state and its invariants; the priorities are in `thread_priority.rs`, the yielding
//! bcrypt in `yielding_bcrypt.rs`, and the last 55 lines are tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::thread_priority as priority;
use super::yielding_bcrypt;

/// A check, told how to pace itself.
type Job = Box<dyn FnOnce(Pace) + Send>;

/// How a check shares the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// On a password thread: yield between bcrypt rounds, so token requests go first.
    Yielding,
    /// Taken out of turn because it is overdue: in one piece. A thread that yields 4,096
    /// times on a saturated CPU is put at the back every time and barely moves.
    Straight,
}

fn check(pace: Pace, hurry: &AtomicBool, password: &[u8], hash: &str) -> bool {
    match pace {
        Pace::Yielding => yielding_bcrypt::verify_paced(password, hash, hurry),
        Pace::Straight => bcrypt::verify(password, hash).unwrap_or(false),
    }
}

/// How long the oldest check may wait before the password threads leave `SCHED_IDLE`.
pub const PROMOTE_AFTER: Duration = Duration::from_millis(250);
/// How often the watcher looks.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// How many checks may wait or run at once, in all and per key.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub total: usize,
    pub per_account: usize,
    pub per_address: usize,
}

/// Why a check was not admitted. Either way nothing was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// Every slot is taken: the server is busy (503).
    #[error("too many password checks are waiting")]
    Full,
    /// This username or this address already has its share of checks waiting (429).
    #[error("too many password checks are waiting for this {0}")]
    TooManyFor(&'static str),
}

impl Busy {
    /// What to put in `Retry-After`: a check takes a fraction of a second.
    pub const RETRY_AFTER_SECS: u64 = 1;
}

/// No place in the password line: 503 when the whole line is full (the server is busy),
/// 429 when this username or address already has its share; `Retry-After` either way.
impl From<Busy> for crate::domain::OAuthError {
    fn from(busy: Busy) -> Self {
        let status = match busy {
            Busy::Full => 503,
            Busy::TooManyFor(_) => 429,
        };
        let wait = Busy::RETRY_AFTER_SECS;
        crate::domain::OAuthError::unavailable(
            status,
            wait as i64,
            format!("{busy}; retry after {wait} second"),
        )
    }
}

/// The checks waiting for a thread, oldest first.
#[derive(Default)]
struct Queue {
    jobs: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    waiting: VecDeque<(Instant, Job)>,
    closed: bool,
}

impl Queue {
    fn push(&self, job: Job) {
        let mut state = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting.push_back((Instant::now(), job));
        drop(state);
        self.ready.notify_one();
    }

    /// The next job for a password thread, waiting for one; `None` once closed.
    fn next(&self) -> Option<Job> {
        let mut state = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some((_, job)) = state.waiting.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The oldest job if it has waited at least `overdue`.
    fn overdue(&self, overdue: Duration) -> Option<Job> {
        let mut state = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match state.waiting.front() {
            Some((at, _)) if at.elapsed() >= overdue => state.waiting.pop_front().map(|(_, j)| j),
            _ => None,
        }
    }

    fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }
}

pub struct PasswordChecker {
    queue: Arc<Queue>,
    /// A hash of a password nobody knows, at the configured cost, made on first need. Per
    /// checker, not per process: the cost is configuration.
    dummy: Arc<OnceLock<String>>,
    cost: u32,
    line: Arc<Line>,
    /// Set by the watcher while a check is overdue: running checks stop yielding.
    hurry: Arc<AtomicBool>,
}

/// The admitted checks: counts per key, and when each was admitted (for the watcher).
struct Line {
    limits: QueueLimits,
    state: Mutex<LineState>,
    next_ticket: AtomicU64,
}

#[derive(Default)]
struct LineState {
    per_key: HashMap<String, usize>,
    admitted: BTreeMap<u64, Instant>,
}

impl Line {
    fn oldest(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.admitted.values().next().copied()
    }

    fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.admitted.len()
    }
}

/// One admitted check's place in line; dropping it frees the place.
pub struct Ticket {
    id: u64,
    keys: [String; 2],
    line: Arc<Line>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.line.state.lock().unwrap_or_else(|e| e.into_inner());
        state.admitted.remove(&self.id);
        for key in &self.keys {
            if let Some(n) = state.per_key.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    state.per_key.remove(key);
                }
            }
        }
    }
}

impl PasswordChecker {
    /// Starts `threads` checker threads (at least one) and their watcher.
    pub fn start(threads: usize, cost: u32, limits: QueueLimits) -> Self {
        let queue = Arc::new(Queue::default());
        let line = Arc::new(Line {
            limits,
            state: Mutex::new(LineState::default()),
            next_ticket: AtomicU64::new(0),
        });
        let tids: Arc<Vec<AtomicI32>> =
            Arc::new((0..threads.max(1)).map(|_| AtomicI32::new(0)).collect());
        for i in 0..tids.len() {
            let (queue, tids) = (queue.clone(), tids.clone());
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    tids[i].store(priority::this_thread(), Ordering::Relaxed);
                    priority::lower(0);
                    work(queue)
                })
                .expect("spawn a password thread");
        }
        let hurry = Arc::new(AtomicBool::new(false));
        let (watched, rescued, hurried) = (Arc::downgrade(&line), queue.clone(), hurry.clone());
        std::thread::Builder::new()
            .name("password-watch".into())
            .spawn(move || {
                priority::raise_this_thread();
                watch(watched, rescued, tids, hurried)
            })
            .expect("spawn the password watcher");
        PasswordChecker {
            queue,
            dummy: Arc::new(OnceLock::new()),
            cost,
            line,
            hurry,
        }
    }

    /// Whether a check from `address` could get a place now: the cheap test before any
    /// database work, so a flood from one address is turned away in memory. (`admit`
    /// decides for real.)
    pub fn has_room(&self, address: Option<&str>) -> Result<(), Busy> {
        let limits = self.line.limits;
        let state = self.line.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.admitted.len() >= limits.total {
            return Err(Busy::Full);
        }
        let key = format!("address:{}", address.unwrap_or(""));
        if address.is_some() && state.per_key.get(&key).copied().unwrap_or(0) >= limits.per_address
        {
            return Err(Busy::TooManyFor("address"));
        }
        Ok(())
    }

    /// A place in line for a check of `account`'s password from `address`, if one is free.
    pub fn admit(&self, account: &str, address: Option<&str>) -> Result<Ticket, Busy> {
        let keys = [
            format!("account:{account}"),
            format!("address:{}", address.unwrap_or("")),
        ];
        let limits = self.line.limits;
        let mut state = self.line.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.admitted.len() >= limits.total {
            return Err(Busy::Full);
        }
        let queued = |key: &str| state.per_key.get(key).copied().unwrap_or(0);
        if queued(&keys[0]) >= limits.per_account {
            return Err(Busy::TooManyFor("username"));
        }
        if address.is_some() && queued(&keys[1]) >= limits.per_address {
            return Err(Busy::TooManyFor("address"));
        }
        let id = self.line.next_ticket.fetch_add(1, Ordering::Relaxed);
        state.admitted.insert(id, Instant::now());
        for key in &keys {
            *state.per_key.entry(key.clone()).or_default() += 1;
        }
        drop(state);
        Ok(Ticket {
            id,
            keys,
            line: self.line.clone(),
        })
    }

    /// Checks waiting or running now.
    pub fn queued(&self) -> usize {
        self.line.len()
    }

    /// Checks `password` against `hash` in `ticket`'s place, which the check keeps until it
    /// is done (a caller that gives up does not free the place while the check still runs).
    /// Without a hash (unknown user) it checks against a dummy of the same cost, so both
    /// answers take about the same time.
    pub async fn verify(&self, ticket: Ticket, password: String, hash: Option<String>) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (cost, dummy, hurry) = (self.cost, self.dummy.clone(), self.hurry.clone());
        let job: Job = Box::new(move |pace| {
            let _place = ticket;
            if tx.is_closed() {
                // Nobody waits for the answer any more (the client went away).
                return;
            }
            let ok = match &hash {
                Some(hash) => check(pace, &hurry, password.as_bytes(), hash),
                None => {
                    let dummy = dummy.get_or_init(|| {
                        bcrypt::hash("gatehouse dummy password", cost).expect("bcrypt hashes")
                    });
                    let _ = check(pace, &hurry, password.as_bytes(), dummy);
                    false
                }
            };
            let _ = tx.send(ok);
        });
        self.queue.push(job);
        rx.await.unwrap_or(false)
    }
}

impl Drop for PasswordChecker {
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn work(queue: Arc<Queue>) {
    while let Some(job) = queue.next() {
        job(Pace::Yielding);
    }
}

/// The starvation guard: runs checks that waited too long in the queue itself, and
/// promotes the password threads while the oldest check is overdue, lowering them again
/// once it is not. Ends when the checker is dropped.
fn watch(
    line: std::sync::Weak<Line>,
    queue: Arc<Queue>,
    tids: Arc<Vec<AtomicI32>>,
    hurry: Arc<AtomicBool>,
) {
    let promoted = AtomicBool::new(false);
    loop {
        std::thread::sleep(WATCH_EVERY);
        let Some(line) = line.upgrade() else { return };
        while let Some(job) = queue.overdue(PROMOTE_AFTER) {
            job(Pace::Straight);
        }
        let overdue = line.oldest().is_some_and(|t| t.elapsed() >= PROMOTE_AFTER);
        hurry.store(overdue, Ordering::Relaxed);
        if overdue != promoted.load(Ordering::Relaxed) {
            for tid in tids.iter() {
                let tid = tid.load(Ordering::Relaxed);
                if tid == 0 {
                    // Not started yet; 0 would name the watcher itself.
                    continue;
                }
                if overdue {
                    priority::normal(tid);
                } else {
                    priority::lower(tid);
                }
            }
            promoted.store(overdue, Ordering::Relaxed);
        }
    }
}

/// Hashes a new password (the CLI, on its own thread).
pub fn hash(password: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(total: usize, per_account: usize, per_address: usize) -> PasswordChecker {
        PasswordChecker::start(
            1,
            4,
            QueueLimits {
                total,
                per_account,
                per_address,
            },
        )
    }

    #[test]
    fn one_username_and_one_address_get_only_their_share_of_the_line() {
        let c = checker(10, 2, 2);
        let a = c.admit("alice", Some("10.0.0.1")).unwrap();
        let _b = c.admit("alice", Some("10.0.0.2")).unwrap();
        assert_eq!(
            c.admit("alice", Some("10.0.0.3")).err(),
            Some(Busy::TooManyFor("username"))
        );
        let _c = c.admit("bob", Some("10.0.0.1")).unwrap();
        assert_eq!(
            c.admit("carol", Some("10.0.0.1")).err(),
            Some(Busy::TooManyFor("address"))
        );
        // A freed place is free again.
        drop(a);
        assert!(c.admit("alice", Some("10.0.0.4")).is_ok());
    }

    #[test]
    fn only_a_check_that_waited_too_long_is_taken_out_of_turn() {
        let queue = Queue::default();
        queue.push(Box::new(|_| {}));
        assert!(queue.overdue(Duration::from_secs(3600)).is_none());
        assert!(queue.overdue(Duration::ZERO).is_some());
        assert!(queue.overdue(Duration::ZERO).is_none(), "taken once");
        queue.close();
        assert!(
            queue.next().is_none(),
            "a closed, empty queue ends its threads"
        );
    }

    #[test]
    fn a_full_line_refuses_at_once() {
        let c = checker(2, 5, 5);
        let _a = c.admit("a", Some("1")).unwrap();
        let _b = c.admit("b", Some("2")).unwrap();
        assert_eq!(c.admit("c", Some("3")).err(), Some(Busy::Full));
        assert_eq!(c.queued(), 2);
    }
}

//! bcrypt checks on their own threads.
//!
//! A check at cost 12 takes about a quarter of a second of CPU. On the shared blocking
//! pool a burst of logins would hold every thread that token requests need; here a few
//! threads at the lowest CPU priority take them, yielding between bcrypt rounds, and token
//! requests keep flowing.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use super::yielding_bcrypt;

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordChecker {
    jobs: Sender<Job>,
    /// A hash of a password nobody knows, at the configured cost, made on first need. Per
    /// checker, not per process: the cost is configuration.
    dummy: Arc<OnceLock<String>>,
    cost: u32,
}

impl PasswordChecker {
    /// Starts `threads` checker threads (at least one).
    pub fn start(threads: usize, cost: u32) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || work(queue))
                .expect("spawn a password thread");
        }
        PasswordChecker {
            jobs,
            dummy: Arc::new(OnceLock::new()),
            cost,
        }
    }

    /// Checks `password` against `hash`. Without a hash (unknown user) it checks against a
    /// dummy of the same cost, so both answers take about the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (cost, dummy) = (self.cost, self.dummy.clone());
        let job: Job = Box::new(move || {
            let ok = match &hash {
                Some(hash) => yielding_bcrypt::verify(password.as_bytes(), hash),
                None => {
                    let dummy = dummy.get_or_init(|| {
                        bcrypt::hash("gatehouse dummy password", cost).expect("bcrypt hashes")
                    });
                    let _ = yielding_bcrypt::verify(password.as_bytes(), dummy);
                    false
                }
            };
            let _ = tx.send(ok);
        });
        if self.jobs.send(job).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

fn work(queue: Arc<Mutex<Receiver<Job>>>) {
    lower_priority();
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SCHED_IDLE: the thread runs when nothing else on the machine wants the CPU, so a burst
    // of logins waits rather than slowing token requests (a nice value alone still took
    // whole time slices from them: BENCHMARKS.md); yielding between bcrypt rounds keeps the
    // odd pick on a busy CPU short. Where the policy is refused, fall back
    // to the lowest nice value. On Linux both apply to the calling thread.
    // SAFETY: both calls only read their arguments.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// Hashes a new password (the CLI, on its own thread).
pub fn hash(password: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, cost)
}

//! The password threads' CPU priority: SCHED_IDLE while they wait their turn, normal while a
//! login is overdue, a little above normal for the watcher where the system allows it.

#[cfg(target_os = "linux")]
mod linux {
    /// The calling thread's id, for the watcher.
    pub fn this_thread() -> i32 {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::gettid() }
    }

    /// SCHED_IDLE for `tid` (0: the calling thread): it runs when nothing else on the
    /// machine wants the CPU, so a burst of logins waits rather than slowing token requests
    /// (a nice value alone still took whole time slices from them: BENCHMARKS.md);
    /// yielding between bcrypt rounds keeps the odd pick on a busy CPU short. Where the
    /// policy is refused, fall back to the lowest nice value.
    pub fn lower(tid: i32) {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = if tid == 0 {
            unsafe { libc::gettid() }
        } else {
            tid
        };
        // SAFETY: both calls only read their arguments.
        unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) != 0 {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
            }
        }
    }

    /// A little above normal for the watcher, where allowed (CAP_SYS_NICE): the checks it
    /// takes out of turn are overdue logins, and on a saturated machine a thread at nice 0
    /// gets too small a share to finish one quickly. Silently normal elsewhere.
    pub fn raise_this_thread() {
        // SAFETY: gettid has no arguments; setpriority only reads its arguments.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, -5);
        }
    }

    /// The normal policy for `tid`, while a check is overdue. Leaving SCHED_IDLE needs
    /// CAP_SYS_NICE or an RLIMIT_NICE that allows nice 0 (systemd: `LimitNICE=0`;
    /// containers: `--cap-add SYS_NICE`); without either it is refused, said once in the log.
    pub fn normal(tid: i32) {
        static WARNED: std::sync::Once = std::sync::Once::new();
        // SAFETY: both calls only read their arguments.
        let raised = unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) == 0
                && libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 0) == 0
        };
        if !raised {
            WARNED.call_once(|| {
                tracing::warn!(
                    error = %std::io::Error::last_os_error(),
                    "cannot raise the password threads' priority while logins wait: \
                     grant CAP_SYS_NICE or RLIMIT_NICE for nice 0 (systemd LimitNICE=0), \
                     or logins may wait long while the token endpoint keeps every core busy"
                )
            });
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    pub fn this_thread() -> i32 {
        0
    }
    pub fn raise_this_thread() {}
    pub fn lower(_tid: i32) {}
    pub fn normal(_tid: i32) {}
}

#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(not(target_os = "linux"))]
pub use other::*;

//! The login limits: which counters one login attempt touches, reserved before the password
//! or code is checked (`storage::throttles::reserve`), so parallel guesses cannot outrun
//! them.
//!
//! The rule (README, "Security"):
//! - every address has its own limit, whatever the usernames it tries;
//! - every username has a limit for the addresses it has not signed in from (within
//!   `known_address_secs`); an address it has signed in from before has a counter of its
//!   own for that username instead. A stranger guessing a password therefore slows down
//!   the guessing from new places, but cannot lock the owner out of where they usually sign in.
//!
//! - second-factor codes are counted per user (and per address), apart from passwords: only
//!   someone who knew the password reaches the code page, so a stranger's wrong passwords
//!   never make the owner's code wait.
//!
//! Unknown usernames are counted exactly like real ones (an unknown name has no known
//! addresses), so the answer never tells them apart. IPv6 addresses count by their /64, the
//! block one subscriber usually holds, so a stranger cannot get fresh counters (or rows)
//! by walking through it.

use std::net::IpAddr;

use crate::domain::username::key_of;
use crate::domain::Policy;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::throttles::{self, Reservation, Reserved};
use crate::storage::{known_addresses, DbConnection, StorageError};

/// Longest typed username that gets its own counter; longer ones share the clipped key.
const MAX_KEY_NAME: usize = 128;

/// The login back-offs, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub account: Policy,
    pub ip: Policy,
    /// How long a successful login from an address keeps it known to that user.
    pub known_address_secs: i64,
}

/// The counters one login attempt touches.
#[derive(Debug, Clone)]
pub struct LoginKeys {
    account: String,
    ip: Option<String>,
}

/// A counted attempt, to be settled once the check is done.
#[must_use = "settle the attempt: failed, or refunded when the check passed"]
pub struct Attempt {
    keys: LoginKeys,
    account: Reserved,
    ip: Option<Reserved>,
}

/// The part of an address the limits count by: the address itself for IPv4, its /64 for
/// IPv6.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        _ => ip.to_owned(),
    }
}

impl LoginKeys {
    /// The counters for a login as `username` from `ip`. `user_id` is the account's, when
    /// the name is a user's: it decides whether `ip` is one of its known addresses.
    pub fn new(
        conn: &mut DbConnection,
        limits: &LoginLimits,
        username: &str,
        user_id: Option<&str>,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Self, StorageError> {
        // The matching key, so `ALICE` and `ａｌｉｃｅ` count against `alice`.
        let name: String = key_of(username).chars().take(MAX_KEY_NAME).collect();
        let known = match (user_id, ip) {
            (Some(user_id), Some(ip)) => {
                known_addresses::is_known(conn, user_id, ip, now - limits.known_address_secs)?
            }
            _ => false,
        };
        let account = match (known, ip) {
            (true, Some(ip)) => format!("login:user:{name}|from:{ip}"),
            _ => format!("login:user:{name}"),
        };
        Ok(LoginKeys {
            account,
            ip: ip.map(|ip| format!("login:ip:{}", address_key(ip))),
        })
    }

    /// The counters for a second-factor code of `user_id` from `ip`.
    pub fn for_code(user_id: &str, ip: Option<&str>) -> Self {
        LoginKeys {
            account: format!("login:code:{user_id}"),
            ip: ip.map(|ip| format!("login:ip:{}", address_key(ip))),
        }
    }

    /// The counter this attempt's username is limited by: the password line shares its
    /// places out by the same key, so a known address also has a share of its own.
    pub fn account_key(&self) -> &str {
        &self.account
    }

    /// Counts an attempt before it is checked; `Err(wait)` when the address or the username
    /// must wait first (then nothing is counted).
    pub fn reserve(
        self,
        conn: &mut DbConnection,
        limits: &LoginLimits,
        now: i64,
    ) -> Result<Result<Attempt, i64>, StorageError> {
        // A waiting key is answered from one read: a flood costs no writes.
        let keys: Vec<&str> = std::iter::once(self.account.as_str())
            .chain(self.ip.as_deref())
            .collect();
        if let Some(wait) = throttles::blocked(conn, &keys, now)? {
            return Ok(Err(wait));
        }
        // The address first: a waiting address makes no row for the names it tries.
        let ip = match &self.ip {
            Some(key) => match throttles::reserve(conn, key, &limits.ip, now)? {
                Reservation::Blocked(wait) => return Ok(Err(wait)),
                Reservation::Granted(reserved) => Some(reserved),
            },
            None => None,
        };
        match throttles::reserve(conn, &self.account, &limits.account, now)? {
            Reservation::Blocked(wait) => {
                // Not evaluated, so not the address's failure.
                if let (Some(key), Some(reserved)) = (&self.ip, &ip) {
                    throttles::refund(conn, key, &limits.ip, reserved)?;
                }
                Ok(Err(wait))
            }
            Reservation::Granted(account) => Ok(Ok(Attempt {
                keys: self,
                account,
                ip,
            })),
        }
    }

    /// The user signed in completely: forget the username's failures at this counter, and
    /// remember the address as known to the user.
    pub fn logged_in(
        &self,
        conn: &mut DbConnection,
        user_id: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        throttles::clear(conn, &self.account)?;
        if let Some(ip) = ip {
            known_addresses::remember(conn, user_id, ip, now)?;
        }
        Ok(())
    }
}

impl Attempt {
    /// The username counter this attempt is limited by ([`LoginKeys::account_key`]).
    pub fn account_key(&self) -> &str {
        self.keys.account_key()
    }

    /// The password or code was wrong: it stays counted. Records it as `kind`, and each
    /// counter it made wait as a lockout.
    pub fn failed(
        self,
        conn: &mut DbConnection,
        kind: EventKind,
        event: &Event<'_>,
        now: i64,
    ) -> Result<(), StorageError> {
        security_events::record(conn, kind, event, now)?;
        let lockouts = [
            ("username", self.account.blocks_for),
            ("address", self.ip.and_then(|r| r.blocks_for)),
        ];
        for (what, wait) in lockouts
            .iter()
            .filter_map(|(what, wait)| wait.map(|w| (what, w)))
        {
            let detail = format!("logins for this {what} wait {wait} s");
            let lockout = Event {
                detail: Some(&detail),
                ..event.clone()
            };
            security_events::record(conn, EventKind::Lockout, &lockout, now)?;
        }
        Ok(())
    }

    /// The check passed (or was never made): hand the reservation back. The address's
    /// other failures stay; one right password does not vouch for the other names tried
    /// from there.
    pub fn refund(
        self,
        conn: &mut DbConnection,
        limits: &LoginLimits,
    ) -> Result<LoginKeys, StorageError> {
        throttles::refund(conn, &self.keys.account, &limits.account, &self.account)?;
        if let (Some(key), Some(reserved)) = (&self.keys.ip, &self.ip) {
            throttles::refund(conn, key, &limits.ip, reserved)?;
        }
        Ok(self.keys)
    }
}

//! Registered clients served from memory, so a token request for a known client needs no
//! database round trip.
//!
//! The database stays the truth; the cache only spares re-reading it:
//! - an entry is trusted for [`MAX_AGE`] after the query that loaded it *started*, then it is
//!   read again. Several instances on one database, and the admin CLI in its own process,
//!   change clients behind this one's back; a deleted client or a rotated secret is seen by
//!   every instance within `MAX_AGE` (the CLI waits that long before it reports success);
//! - only clients that just authenticated enter it, never an id the database does not know:
//!   a stranger spraying invented client ids (or wrong secrets) adds nothing, and the
//!   number of entries is bounded by [`CAPACITY`] whatever happens;
//! - a change made in this process is dropped at once ([`ClientCache::forget`]).
//!
//! What the cache holds is the whole client (its secret's SHA-256, grant types, scopes):
//! the secret check itself still happens on every request, in constant time
//! (`domain::client::admits`).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::domain::Client;

/// How long an entry is used before the database is asked again.
pub const MAX_AGE: Duration = Duration::from_millis(500);

/// Waits until no instance still serves a client as it was read before a change that just
/// committed: each re-reads a client it holds after [`MAX_AGE`]. HTTP changes to a client
/// answer after this, as the CLI does.
pub async fn settle() {
    actix_web::rt::time::sleep(MAX_AGE).await;
}

/// The most clients held; beyond it new clients are served from the database until stale
/// entries make room. Far above the clients one server sees in a second.
pub const CAPACITY: usize = 4096;

struct Entry {
    client: Arc<Client>,
    /// When the query that read it started: anything committed before that is in it.
    read_at: Instant,
}

pub struct ClientCache {
    entries: RwLock<HashMap<String, Entry>>,
    max_age: Duration,
    capacity: usize,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new(MAX_AGE, CAPACITY)
    }
}

impl ClientCache {
    pub fn new(max_age: Duration, capacity: usize) -> Self {
        ClientCache {
            entries: RwLock::new(HashMap::new()),
            max_age,
            capacity,
        }
    }

    /// The client, if it was read from the database less than `max_age` ago.
    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|e| e.read_at.elapsed() < self.max_age)
            .map(|e| e.client.clone())
    }

    /// Remembers `client` as read by a query that started at `read_at`. An older read never
    /// replaces a newer one (two requests may reload the same client at once).
    pub fn put(&self, client: Arc<Client>, read_at: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = entries.get_mut(client.id.as_str()) {
            if current.read_at <= read_at {
                *current = Entry { client, read_at };
            }
            return;
        }
        if entries.len() >= self.capacity {
            let max_age = self.max_age;
            entries.retain(|_, e| e.read_at.elapsed() < max_age);
        }
        if entries.len() < self.capacity {
            entries.insert(client.id.to_string(), Entry { client, read_at });
        }
    }

    /// Drops a client changed or deleted by this process.
    pub fn forget(&self, id: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientId, GrantType, ScopeSet};

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
            id: ClientId::from_stored(id.to_owned()),
            name: id.to_owned(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ScopeSet::default(),
            created_at: 0,
            updated_at: 0,
            introspect: false,
        })
    }

    #[test]
    fn entries_expire_after_max_age() {
        let cache = ClientCache::new(Duration::from_millis(50), 8);
        cache.put(client("a"), Instant::now());
        assert!(cache.get("a").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn the_age_counts_from_when_the_read_started() {
        let cache = ClientCache::new(Duration::from_millis(50), 8);
        cache.put(client("a"), Instant::now() - Duration::from_millis(60));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn an_older_read_does_not_replace_a_newer_one() {
        let cache = ClientCache::new(Duration::from_secs(60), 8);
        let now = Instant::now();
        let mut newer = (*client("a")).clone();
        newer.name = "newer".into();
        cache.put(Arc::new(newer), now);
        cache.put(client("a"), now - Duration::from_millis(10));
        assert_eq!(cache.get("a").unwrap().name, "newer");
    }

    #[test]
    fn forget_drops_at_once() {
        let cache = ClientCache::default();
        cache.put(client("a"), Instant::now());
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn the_size_is_bounded_and_stale_entries_make_room() {
        let cache = ClientCache::new(Duration::from_millis(50), 4);
        for i in 0..10 {
            cache.put(client(&format!("c{i}")), Instant::now());
        }
        assert_eq!(cache.len(), 4);
        assert!(cache.get("c9").is_none(), "a full cache keeps what it has");
        std::thread::sleep(Duration::from_millis(60));
        cache.put(client("late"), Instant::now());
        assert!(cache.get("late").is_some());
        assert_eq!(cache.len(), 1);
    }
}

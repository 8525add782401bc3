//! The admin console's service (`/admin`): who may see it, and the operations its pages run.
//!
//! A browser session may use the console while it is signed in (its `login_sessions` row is
//! there), signed in recently, and its user is enabled and holds a role that allows
//! `gatehouse:admin` now, checked on every request in the connection that runs the
//! operation. Changes are logged with the user as actor (`via console`).

use super::token::ADMIN_SCOPE;
use super::{Actor, AdminError};
use crate::accounts::self_service::SignedIn;
use crate::storage::accounts::{self, User};
use crate::storage::{login_sessions, Database, DbConnection, StorageError};

/// Why the console shows no page.
#[derive(Debug)]
pub enum Refused {
    /// Not signed in (or not recently, or the session ended): the login page.
    SignIn,
    /// Signed in, but not an admin: 403.
    NotAdmin,
    /// The operation refused (a bad form, a missing client): shown on the page.
    Admin(AdminError),
    Storage(StorageError),
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

impl From<AdminError> for Refused {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Storage(e) => Refused::Storage(e),
            other => Refused::Admin(other),
        }
    }
}

/// The connection a console operation runs with.
pub use crate::storage::DbConnection as Connection;

pub struct Console {
    db: Database,
}

/// The admin using the console.
pub struct ConsoleUser {
    pub user: User,
    pub actor: Actor,
}

fn admit(conn: &mut DbConnection, who: &SignedIn, now: i64) -> Result<ConsoleUser, Refused> {
    if !who.recently {
        return Err(Refused::SignIn);
    }
    let user = login_sessions::signed_in(conn, &who.sid, &who.user_id, now)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(Refused::SignIn)?;
    if !accounts::scopes_allowed_to(conn, &user.id)?.contains(ADMIN_SCOPE) {
        return Err(Refused::NotAdmin);
    }
    let actor = Actor::console(&user.id);
    Ok(ConsoleUser { user, actor })
}

impl Console {
    pub fn new(db: Database) -> Self {
        Console { db }
    }

    /// Runs `op` for `who` if they may use the console now.
    pub async fn run<T, F>(&self, who: Option<SignedIn>, now: i64, op: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &ConsoleUser) -> Result<T, AdminError> + Send + 'static,
    {
        let who = who.ok_or(Refused::SignIn)?;
        self.db
            .run(move |conn| -> Result<T, Refused> {
                let admin = admit(conn, &who, now)?;
                Ok(op(conn, &admin)?)
            })
            .await
    }
}

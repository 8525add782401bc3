//! The `user`, `role` and `consent` commands: each a call into `admin`, printed.

use std::sync::Arc;

use super::run::{read_password, time, Output};
use super::*;
use crate::admin::{self, Actor, PasswordRules, ProfileChange, RoleView, UserView};
use crate::storage::DbConnection;
use crate::tokens::kek::KeyEncryptionKey;

fn describe_user(u: &UserView) -> String {
    let mut text = format!("{}  {}", u.id, u.username);
    if let Some(name) = &u.name {
        text.push_str(&format!("  name: {name}"));
    }
    if let Some(email) = &u.email {
        text.push_str(&format!("  email: {email}"));
    }
    let roles = if u.roles.is_empty() {
        "none".to_owned()
    } else {
        u.roles.join(",")
    };
    text.push_str(&format!("  roles: {roles}"));
    if u.totp {
        text.push_str("  (TOTP)");
    }
    if let Some(at) = u.disabled_at {
        text.push_str(&format!("  (disabled {})", time(at)));
    }
    text
}

fn describe_role(r: &RoleView) -> String {
    format!(
        "{}  allows: {}  users: {}",
        r.name,
        r.scopes.join(" "),
        r.users
    )
}

fn ended_text(who: &str, ended: &admin::Ended) -> String {
    format!(
        "{who}: {} browser session(s) ended, {} refresh-token family(ies) revoked",
        ended.sessions, ended.refresh_families
    )
}

pub(super) fn user_command(
    conn: &mut DbConnection,
    out: &Output,
    rules: &PasswordRules,
    command: UserCommand,
    now: i64,
) -> Result<(), CliError> {
    let actor = &Actor::cli();
    match command {
        UserCommand::Create {
            username,
            roles,
            email,
            name,
        } => {
            let password = read_password(&username)?;
            let new = admin::NewUser {
                username: &username,
                password: &password,
                roles: &roles,
                email: email.as_deref(),
                name: name.as_deref(),
            };
            let user = admin::create_user(conn, actor, rules, new, now)?;
            out.print(&user, || {
                format!("id: {}\nusername: {}", user.id, user.username)
            })?;
        }
        UserCommand::List {
            search,
            after,
            limit,
        } => {
            let page = admin::list_users(conn, search.as_deref(), after.as_deref(), limit)?;
            out.print(&page, || {
                let mut lines: Vec<String> = page.users.iter().map(describe_user).collect();
                if lines.is_empty() {
                    lines.push("no users".into());
                }
                if let Some(next) = &page.next {
                    lines.push(format!("(more: --after {next})"));
                }
                lines.join("\n")
            })?;
        }
        UserCommand::Show { user } => {
            let user = admin::show_user(conn, &user)?;
            out.print(&user, || describe_user(&user))?;
        }
        UserCommand::Update { user, email, name } => {
            let change = ProfileChange {
                email: email.as_deref(),
                name: name.as_deref(),
            };
            let user = admin::update_user(conn, actor, &user, change, now)?;
            out.print(&user, || describe_user(&user))?;
        }
        UserCommand::Disable { user } => {
            let ended = admin::disable_user(conn, actor, &user, now)?;
            out.print(&ended, || ended_text(&format!("disabled {user}"), &ended))?;
        }
        UserCommand::Enable { user } => {
            let user = admin::enable_user(conn, actor, &user, now)?;
            out.print(&user, || format!("enabled {}", user.username))?;
        }
        UserCommand::Delete { user } => {
            let user = admin::delete_user(conn, actor, &user, now)?;
            out.print(
                &serde_json::json!({ "deleted": user.id, "username": user.username }),
                || format!("deleted user {} ({})", user.username, user.id),
            )?;
        }
        UserCommand::SetPassword { user } => {
            // Found first, so a typo in the name fails before the password is asked for.
            let found = admin::find_user(conn, &user)?;
            let password = read_password(&found.username)?;
            let ended = admin::set_password(conn, actor, rules, &found.id, &password, now)?;
            out.print(&ended, || {
                ended_text(&format!("password set for {}", found.username), &ended)
            })?;
        }
        UserCommand::AddRole { user, role } => {
            let user = admin::add_role(conn, actor, &user, &role, now)?;
            out.print(&user, || describe_user(&user))?;
        }
        UserCommand::RemoveRole { user, role } => {
            let user = admin::remove_role(conn, actor, &user, &role, now)?;
            out.print(&user, || describe_user(&user))?;
        }
        UserCommand::Sessions { user } => {
            let sessions = admin::list_sessions(conn, &user, now)?;
            out.print(&sessions, || {
                if sessions.is_empty() {
                    return format!("{user} has no live browser session");
                }
                sessions
                    .iter()
                    .map(|s| {
                        format!(
                            "sid {}  signed in {} ({})  until {}",
                            s.sid,
                            time(s.created_at),
                            s.amr,
                            time(s.expires_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        UserCommand::RevokeSessions { user } => {
            let ended = admin::revoke_sessions(conn, actor, &user, now)?;
            out.print(&ended, || ended_text(&user, &ended))?;
        }
        UserCommand::Totp(_) => unreachable!("run() hands TOTP commands to totp_command"),
    }
    Ok(())
}

pub(super) fn totp_command(
    conn: &mut DbConnection,
    out: &Output,
    kek: Arc<KeyEncryptionKey>,
    command: TotpCommand,
    now: i64,
) -> Result<(), CliError> {
    let actor = &Actor::cli();
    match command {
        TotpCommand::Enable { username, force } => {
            let enrolled = admin::enable_totp(conn, actor, kek, &username, force, now)?;
            out.print(&enrolled, || {
                format!(
                    "secret: {}\notpauth_uri: {}\nrecovery codes (each works once; shown only now):\n  {}",
                    enrolled.secret,
                    enrolled.otpauth_uri,
                    enrolled.recovery_codes.join("\n  ")
                )
            })?;
        }
        TotpCommand::Disable { username } => {
            let removed = admin::disable_totp(conn, actor, &username, now)?;
            out.print(
                &serde_json::json!({ "username": username, "totp": "off", "was_on": removed }),
                || format!("TOTP is off for {username}"),
            )?;
        }
    }
    Ok(())
}

pub(super) fn role_command(
    conn: &mut DbConnection,
    out: &Output,
    command: RoleCommand,
    now: i64,
) -> Result<(), CliError> {
    let actor = &Actor::cli();
    match command {
        RoleCommand::Create { name, scopes } => {
            let role = admin::create_role(conn, actor, &name, &scopes, now)?;
            out.print(&role, || {
                format!("role {} allows: {}", role.name, role.scopes.join(" "))
            })?;
        }
        RoleCommand::List => {
            let roles = admin::list_roles(conn)?;
            out.print(&roles, || {
                if roles.is_empty() {
                    return "no roles".into();
                }
                roles
                    .iter()
                    .map(describe_role)
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        RoleCommand::Show { name } => {
            let role = admin::show_role(conn, &name)?;
            out.print(&role, || describe_role(&role))?;
        }
        RoleCommand::Update { name, add, remove } => {
            let role = admin::update_role(conn, actor, &name, &add, &remove, now)?;
            out.print(&role, || describe_role(&role))?;
        }
        RoleCommand::Delete { name } => {
            let role = admin::delete_role(conn, actor, &name, now)?;
            out.print(
                &serde_json::json!({ "deleted": role.name, "users": role.users }),
                || {
                    format!(
                        "deleted role {} (it was held by {} user(s))",
                        role.name, role.users
                    )
                },
            )?;
        }
    }
    Ok(())
}

pub(super) fn consent_command(
    conn: &mut DbConnection,
    out: &Output,
    command: ConsentCommand,
    now: i64,
) -> Result<(), CliError> {
    match command {
        ConsentCommand::List { user } => {
            let consents = admin::list_consents(conn, &user)?;
            out.print(&consents, || {
                if consents.is_empty() {
                    return format!("{user} has approved no app");
                }
                consents
                    .iter()
                    .map(|c| {
                        format!(
                            "{}  {}  scopes: {}  approved {}",
                            c.client_id,
                            c.client_name,
                            c.scopes.join(" "),
                            time(c.granted_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        ConsentCommand::Revoke { user, client } => {
            let ended = admin::revoke_consent(conn, &Actor::cli(), &user, &client, now)?;
            out.print(&ended, || {
                format!(
                    "consent of {user} for {client} withdrawn; {} refresh-token families revoked",
                    ended.refresh_families
                )
            })?;
        }
    }
    Ok(())
}

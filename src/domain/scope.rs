//! Scope sets and the rules for what a client may be granted (SPEC "Scopes and roles").

use std::collections::BTreeSet;
use std::fmt;

/// The OpenID Connect scopes (Core 1.0 §3.1.2.1, §5.4): registered like any other scope, but
/// not narrowed by roles.
pub const IDENTITY_SCOPES: &[&str] = &[OPENID, "profile", "email"];
/// The scope that makes an authorization request an OpenID Connect one.
pub const OPENID: &str = "openid";

/// A set of scope tokens, always shown sorted and space-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scope `{0}`: scope tokens are printable ASCII without spaces, `\"` or `\\`")]
pub struct MalformedScope(pub String);

impl ScopeSet {
    /// Parses `scope-token *( SP scope-token )` (RFC 6749 §3.3) strictly: stray spaces are
    /// malformed. The empty string is the empty set.
    pub fn parse(s: &str) -> Result<Self, MalformedScope> {
        if s.is_empty() {
            return Ok(ScopeSet::default());
        }
        s.split(' ')
            .map(Self::token)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(ScopeSet)
    }

    /// Validates one scope token: `1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn token(t: &str) -> Result<String, MalformedScope> {
        let valid = !t.is_empty()
            && t.bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        if valid {
            Ok(t.to_owned())
        } else {
            Err(MalformedScope(t.chars().take(64).collect()))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// What of this set a user whose roles allow `allowed` may be granted: what the roles
    /// allow, and the identity scopes, which no role narrows (SPEC "OpenID Connect": every
    /// user may share their own identity).
    pub fn within_roles(&self, allowed: &ScopeSet) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|s| allowed.0.contains(*s) || IDENTITY_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect(),
        )
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn extend(&mut self, other: ScopeSet) {
        self.0.extend(other.0)
    }

    /// What a client gets: the requested scope, or without one the client's registered
    /// scopes. A request beyond the registration is refused (`invalid_scope`).
    pub fn granted_to_client(
        requested: Option<&ScopeSet>,
        registered: &ScopeSet,
    ) -> Result<ScopeSet, ScopeSet> {
        match requested {
            None => Ok(registered.clone()),
            Some(requested) if requested.is_subset(registered) => Ok(requested.clone()),
            Some(requested) => Err(ScopeSet(
                requested.0.difference(&registered.0).cloned().collect(),
            )),
        }
    }
}

impl ScopeSet {
    /// What a user grant gets (SPEC "Scopes and roles"): the client rules first, then only
    /// what the user's roles allow. Either failure is `invalid_scope`.
    pub fn granted_to_user(
        requested: Option<&ScopeSet>,
        registered: &ScopeSet,
        allowed_by_roles: &ScopeSet,
    ) -> Result<ScopeSet, UserScopeError> {
        let asked = Self::granted_to_client(requested, registered)
            .map_err(UserScopeError::NotRegistered)?;
        let granted = asked.within_roles(allowed_by_roles);
        if granted.is_empty() {
            return Err(UserScopeError::NothingAllowed(asked));
        }
        Ok(granted)
    }
}

/// Why a user grant gets no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserScopeError {
    /// These requested scopes are outside the client's registration.
    #[error("scope not registered for this client: {0}")]
    NotRegistered(ScopeSet),
    /// The user's roles allow none of these.
    #[error("none of the requested scopes is allowed to this user")]
    NothingAllowed(ScopeSet),
}

impl FromIterator<String> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn rfc_6749_alphabet_is_enforced() {
        assert!(ScopeSet::parse("a:b c/d").is_ok());
        assert!(ScopeSet::parse("quote\"d").is_err());
        assert!(ScopeSet::parse("back\\slash").is_err());
        assert!(ScopeSet::parse("tab\there").is_err());
        assert!(ScopeSet::parse("naïve").is_err());
        assert!(ScopeSet::parse(" ").is_err());
        assert!(ScopeSet::parse("a  b").is_err());
        assert_eq!(ScopeSet::parse(""), Ok(ScopeSet::default()));
    }

    #[test]
    fn display_is_sorted_and_deduplicated() {
        assert_eq!(set("b a b").to_string(), "a b");
    }

    #[test]
    fn absent_scope_means_registered_scope() {
        assert_eq!(
            ScopeSet::granted_to_client(None, &set("a b")),
            Ok(set("a b"))
        );
    }

    #[test]
    fn users_get_what_their_roles_allow_and_never_nothing() {
        let client = set("a b c");
        assert_eq!(
            ScopeSet::granted_to_user(None, &client, &set("b c d")),
            Ok(set("b c"))
        );
        assert_eq!(
            ScopeSet::granted_to_user(Some(&set("a b")), &client, &set("b")),
            Ok(set("b"))
        );
        assert!(ScopeSet::granted_to_user(Some(&set("a")), &client, &set("b")).is_err());
        assert!(ScopeSet::granted_to_user(Some(&set("z")), &client, &set("z")).is_err());
    }

    #[test]
    fn roles_do_not_narrow_identity_scopes() {
        let client = set("openid profile email books:read");
        assert_eq!(
            ScopeSet::granted_to_user(None, &client, &ScopeSet::default()),
            Ok(set("openid profile email"))
        );
        assert_eq!(
            set("openid books:read books:write").within_roles(&set("books:read")),
            set("openid books:read")
        );
        // Registration still binds them: a client without `openid` cannot ask for it.
        assert!(ScopeSet::granted_to_user(Some(&set("openid")), &set("a"), &set("a")).is_err());
    }

    #[test]
    fn wider_request_names_the_extra_scopes() {
        assert_eq!(
            ScopeSet::granted_to_client(Some(&set("a c")), &set("a b")),
            Err(set("c"))
        );
    }
}

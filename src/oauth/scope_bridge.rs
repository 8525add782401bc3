//! oxide-auth speaks its own scope type; both sides use the same RFC 6749 alphabet.

use crate::domain::{MalformedScope, ScopeSet};

impl From<&ScopeSet> for oxide_auth::primitives::scope::Scope {
    fn from(s: &ScopeSet) -> Self {
        s.to_string()
            .parse()
            .expect("a validated scope set parses as an oxide-auth scope")
    }
}

impl TryFrom<&oxide_auth::primitives::scope::Scope> for ScopeSet {
    type Error = MalformedScope;

    fn try_from(s: &oxide_auth::primitives::scope::Scope) -> Result<Self, MalformedScope> {
        ScopeSet::parse(&s.to_string())
    }
}

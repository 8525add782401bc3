//! Usernames, parsed once at the edge.
//!
//! SPEC.md: "Usernames are matched without regard to case (after Unicode NFKC): `Alice` and
//! `alice` are one user". A [`Username`] keeps two spellings:
//!
//! - the name **as first typed**, for display (`preferred_username`, the account page, the
//!   `otpauth://` label), because that is how its owner chose to write it;
//! - its **key**, the compatibility-caseless form of Unicode §3.13 (D146): NFD, full case
//!   folding, NFKD, case folding again, then composed to NFKC so the stored key is short.
//!   `Alice`, `ALICE` and fullwidth `ａｌｉｃｅ` share the key `alice`; `Straße` and
//!   `STRASSE` share `strasse` (full folding, which `to_lowercase` does not do). The key is
//!   what uniqueness, login lookup and the login throttles use, so one person is one account
//!   and one throttle bucket, however the name is typed.
//!
//! A name is refused when it could look like another or hide part of itself (the concern of
//! RFC 8264 §9 and Unicode TR 36 §2): white space anywhere, control and format characters
//! (general categories Cc, Cf: zero-width joiners, BOM, soft hyphen, bidi controls),
//! the other default-ignorable code points (Hangul fillers, variation selectors, ...),
//! unassigned and private-use code points (Cn, Co: their case mapping may change with a
//! later Unicode version, and with it the key).

use super::visible::{self, Hidden};
use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

/// Longest username, in characters, both as typed and as a key (NFKC may lengthen a name).
pub const MAX_CHARS: usize = 64;

/// A valid username: the name as typed and its matching key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    typed: String,
    key: String,
}

/// Why a typed name is not a username. The messages are shown to admins as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username must not be empty")]
    Empty,
    #[error("a username must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("a username must not contain spaces or other white space")]
    WhiteSpace,
    #[error("a username must not contain control characters (found U+{0:04X})")]
    Control(u32),
    #[error(
        "a username must not contain invisible or formatting characters (found U+{0:04X}, \
         such as a zero-width space, a byte-order mark or a direction mark)"
    )]
    Invisible(u32),
    #[error("a username must not contain unassigned or private-use characters (found U+{0:04X})")]
    Unassigned(u32),
}

impl Username {
    /// Checks a typed name and computes its key.
    pub fn parse(typed: &str) -> Result<Self, UsernameError> {
        if typed.is_empty() {
            return Err(UsernameError::Empty);
        }
        for c in typed.chars() {
            check_char(c)?;
        }
        let key = key_of(typed);
        if typed.chars().count() > MAX_CHARS || key.chars().count() > MAX_CHARS {
            return Err(UsernameError::TooLong);
        }
        // Folding and NFKC can produce a character of its own (NFKC of U+2028 is itself,
        // of U+3000 a space), so the key is checked as well.
        for c in key.chars() {
            check_char(c)?;
        }
        Ok(Username {
            typed: typed.to_owned(),
            key,
        })
    }

    /// The name as its owner typed it when the account was made: for display.
    pub fn as_typed(&self) -> &str {
        &self.typed
    }

    /// The key that uniqueness and login lookup compare.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key the per-username login throttle counts under: the same key, so `ALICE`
    /// and `alice` share one bucket (and attacking one spelling never throttles another
    /// account).
    pub fn throttle_key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.typed)
    }
}

/// The matching key of any typed text, valid username or not.
///
/// For the login throttles, which must count a guess at `ALICE` against `alice` even when the
/// text typed into a form is not a valid username (it then matches no account, but the guess
/// still counts).
pub fn key_of(typed: &str) -> String {
    typed
        .chars()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
        .collect()
}

fn check_char(c: char) -> Result<(), UsernameError> {
    if c.is_whitespace() {
        return Err(UsernameError::WhiteSpace);
    }
    match visible::hidden(c) {
        Some(Hidden::Control) => Err(UsernameError::Control(c as u32)),
        Some(Hidden::Invisible) => Err(UsernameError::Invisible(c as u32)),
        Some(Hidden::Unassigned) => Err(UsernameError::Unassigned(c as u32)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(typed: &str) -> String {
        Username::parse(typed).unwrap().key().to_owned()
    }

    #[test]
    fn case_and_width_variants_share_one_key() {
        for typed in ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
            assert_eq!(key(typed), "alice", "{typed}");
        }
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("ǅemal"), key("džemal"));
        // Composed and decomposed é are one name.
        assert_eq!(key("Ren\u{E9}"), key("Rene\u{301}"));
    }

    #[test]
    fn the_typed_spelling_is_kept_for_display() {
        let name = Username::parse("Alice").unwrap();
        assert_eq!(name.as_typed(), "Alice");
        assert_eq!(name.to_string(), "Alice");
        assert_eq!(name.throttle_key(), "alice");
    }

    #[test]
    fn invisible_control_and_white_space_characters_are_refused() {
        let cases = [
            ("", UsernameError::Empty),
            ("al ice", UsernameError::WhiteSpace),
            (" alice", UsernameError::WhiteSpace),
            ("alice\u{A0}", UsernameError::WhiteSpace),
            ("alice\u{3000}", UsernameError::WhiteSpace),
            ("ali\u{7}ce", UsernameError::Control(7)),
            ("ali\u{7F}ce", UsernameError::Control(0x7F)),
            ("ali\u{200B}ce", UsernameError::Invisible(0x200B)),
            ("ali\u{200D}ce", UsernameError::Invisible(0x200D)),
            ("\u{FEFF}alice", UsernameError::Invisible(0xFEFF)),
            ("ali\u{AD}ce", UsernameError::Invisible(0xAD)),
            ("\u{202E}ecila", UsernameError::Invisible(0x202E)),
            ("ali\u{34F}ce", UsernameError::Invisible(0x34F)),
            ("alice\u{FE0F}", UsernameError::Invisible(0xFE0F)),
            ("\u{3164}", UsernameError::Invisible(0x3164)),
            ("ali\u{E000}ce", UsernameError::Unassigned(0xE000)),
            ("ali\u{378}ce", UsernameError::Unassigned(0x378)),
        ];
        for (typed, expected) in cases {
            assert_eq!(Username::parse(typed), Err(expected), "{typed:?}");
        }
    }

    #[test]
    fn a_name_too_long_as_typed_or_after_normalisation_is_refused() {
        assert!(Username::parse(&"a".repeat(MAX_CHARS)).is_ok());
        assert_eq!(
            Username::parse(&"a".repeat(MAX_CHARS + 1)),
            Err(UsernameError::TooLong)
        );
        // U+FDFA expands to 18 characters under NFKC.
        assert_eq!(
            Username::parse(&"\u{FDFA}".repeat(4)),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn key_of_accepts_any_text_for_the_throttles() {
        assert_eq!(key_of("ALICE"), "alice");
        assert_eq!(key_of("bad name\u{200B}"), "bad name\u{200B}");
    }
}

//! Text people read and trust: a username, a client's name on the consent page, the product
//! name. A character that renders as nothing or reorders what follows it (Unicode TR 36 §2:
//! bidi controls, zero-width joiners, a byte-order mark, a soft hyphen) would let
//! `Bank\u{202E}lapyaP` show as something it is not, so such text is refused where it enters.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a character cannot be shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// Cc, and the line and paragraph separators.
    Control,
    /// Cf and the rest of Default_Ignorable_Code_Point: renders as nothing, or steers the
    /// direction of what follows.
    Invisible,
    /// Unassigned, private use or a surrogate: nobody can say how it renders.
    Unassigned,
}

/// Whether `c` shows as itself, and if not, why.
pub fn hidden(c: char) -> Option<Hidden> {
    match c.general_category() {
        GeneralCategory::Control
        | GeneralCategory::LineSeparator
        | GeneralCategory::ParagraphSeparator => Some(Hidden::Control),
        GeneralCategory::Format => Some(Hidden::Invisible),
        GeneralCategory::Unassigned | GeneralCategory::PrivateUse | GeneralCategory::Surrogate => {
            Some(Hidden::Unassigned)
        }
        _ if is_default_ignorable(c) => Some(Hidden::Invisible),
        _ => None,
    }
}

/// The first character of `text` that does not show as itself.
pub fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|c| hidden(*c).is_some())
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 16): characters
/// that render as nothing. Most are Cf and caught above; this names the rest (combining
/// grapheme joiner, Hangul fillers, variation selectors, Mongolian free variation selectors,
/// reserved ranges) so the whole property is covered.
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofing_characters_are_hidden_and_ordinary_text_is_not() {
        for c in [
            '\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{061C}',
            '\u{2028}', '\u{1b}', '\u{E000}', '\u{FE0F}',
        ] {
            assert!(hidden(c).is_some(), "U+{:04X}", c as u32);
        }
        for text in [
            "Book shelf",
            "Bücherregal",
            "書棚",
            "مكتبة",
            "Nightly export (v2) — ops",
        ] {
            assert_eq!(first_hidden(text), None, "{text}");
        }
    }
}

//! One spelling per ES256 signature: the low-`s` form.
//!
//! An ECDSA signature `(r, s)` and `(r, n − s)` verify alike, so without a rule every
//! access token has two valid strings, and a verifier keyed on the string (a revocation
//! list, a replay cache) can be walked around with the second one. Like Bitcoin's BIP 146
//! and libsecp256k1, gatehouse signs only with `s ≤ n/2` and accepts only that form
//! wherever it checks a token it issued (introspection, revocation, `gatehouse_resource`).
//!
//! A JWS ES256 signature is `r ‖ s`, each a 32-byte big-endian integer (RFC 7518 §3.4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Length of an ES256 JWS signature: `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// The order n of the P-256 group (SEC 2 §2.4.2, FIPS 186-4 D.1.2.3), big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// ⌊n / 2⌋, the largest low `s`. n is odd, so `n − s` of a high `s` is at most this.
const HALF_N: [u8; 32] = shift_right_one(N);

const fn shift_right_one(x: [u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u8;
    let mut i = 0;
    while i < 32 {
        out[i] = (x[i] >> 1) | carry;
        carry = (x[i] & 1) << 7;
        i += 1;
    }
    out
}

/// Whether `s ≤ n/2`. Equal-length big-endian byte strings order like the numbers they
/// spell, so the slice comparison is the numeric one. (A zero or ≥ n `s` is not a valid
/// signature at all; the ECDSA verifier refuses those.)
fn is_low(s: &[u8; 32]) -> bool {
    *s <= HALF_N
}

/// `n − s`, for `0 < s < n`: schoolbook subtraction from the last byte, carrying the borrow.
fn negate(s: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let subtrahend = u16::from(s[i]) + borrow;
        let minuend = u16::from(N[i]);
        if minuend >= subtrahend {
            out[i] = (minuend - subtrahend) as u8;
            borrow = 0;
        } else {
            out[i] = (minuend + 256 - subtrahend) as u8;
            borrow = 1;
        }
    }
    out
}

fn s_of(signature: &[u8; SIGNATURE_LEN]) -> [u8; 32] {
    signature[32..]
        .try_into()
        .expect("a 64-byte signature has a 32-byte s")
}

/// Rewrites a fresh signature into its low-`s` form (`s` → `n − s` when `s > n/2`); the
/// result verifies exactly as the original did.
pub fn normalize(signature: &mut [u8; SIGNATURE_LEN]) {
    let s = s_of(signature);
    if !is_low(&s) {
        signature[32..].copy_from_slice(&negate(&s));
    }
}

/// Whether the signature segment of a compact JWS is a 64-byte ES256 signature in low-`s`
/// form. Anything else (wrong length, bad base64url, high `s`) is not a token gatehouse
/// would have signed.
pub fn jws_has_low_s(token: &str) -> bool {
    let Some((_, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let mut bytes = [0u8; SIGNATURE_LEN];
    match URL_SAFE_NO_PAD.decode_slice(signature, &mut bytes) {
        Ok(SIGNATURE_LEN) => is_low(&s_of(&bytes)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_hex(hex: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn small(v: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[31] = v;
        out
    }

    /// Adds a small number, for the values around n/2.
    fn plus(x: [u8; 32], v: u8) -> [u8; 32] {
        let mut out = x;
        let mut carry = u16::from(v);
        for byte in out.iter_mut().rev() {
            let sum = u16::from(*byte) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        out
    }

    #[test]
    fn half_n_is_n_minus_one_over_two() {
        assert_eq!(
            HALF_N,
            from_hex("7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8")
        );
        // 2·⌊n/2⌋ + 1 = n, because n is odd.
        assert_eq!(negate(&HALF_N), plus(HALF_N, 1));
    }

    #[test]
    fn s_up_to_half_n_is_low_and_above_is_high() {
        assert!(is_low(&small(1)));
        assert!(is_low(&HALF_N));
        assert!(!is_low(&plus(HALF_N, 1)));
        assert!(!is_low(&plus(N, 0)));
        assert!(!is_low(&negate(&small(1))));
    }

    #[test]
    fn negation_is_n_minus_s() {
        assert_eq!(negate(&negate(&small(1))), small(1));
        assert_eq!(
            negate(&small(1)),
            from_hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632550")
        );
        // n − (n − 1) = 1, with borrows through every byte of a value like 0x…0100.
        let n_minus_one = negate(&small(1));
        assert_eq!(negate(&n_minus_one), small(1));
        let mut s = [0u8; 32];
        s[30] = 1; // 256
        assert_eq!(
            negate(&s),
            from_hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632451")
        );
        assert_eq!(negate(&plus(HALF_N, 1)), HALF_N);
    }

    #[test]
    fn normalize_leaves_low_s_alone_and_flips_high_s() {
        let mut low = [7u8; SIGNATURE_LEN];
        low[32..].copy_from_slice(&HALF_N);
        let before = low;
        normalize(&mut low);
        assert_eq!(low, before);

        let mut high = [7u8; SIGNATURE_LEN];
        high[32..].copy_from_slice(&negate(&small(1)));
        normalize(&mut high);
        assert_eq!(&high[..32], &[7u8; 32]);
        assert_eq!(&high[32..], &small(1));
    }

    #[test]
    fn only_64_byte_low_s_jws_signatures_pass() {
        let token = |sig: &[u8]| format!("h.p.{}", URL_SAFE_NO_PAD.encode(sig));
        let mut sig = [1u8; SIGNATURE_LEN];
        sig[32..].copy_from_slice(&HALF_N);
        assert!(jws_has_low_s(&token(&sig)));
        sig[32..].copy_from_slice(&plus(HALF_N, 1));
        assert!(!jws_has_low_s(&token(&sig)));
        assert!(!jws_has_low_s(&token(&[1u8; 63])));
        assert!(!jws_has_low_s(&token(&[1u8; 65])));
        assert!(!jws_has_low_s("h.p.not base64!"));
        assert!(!jws_has_low_s("no dots"));
    }
}

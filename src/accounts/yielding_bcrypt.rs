//! bcrypt verification that gives the CPU back between rounds.
//!
//! The computation is the `bcrypt` crate's, step for step, on the same `blowfish` primitives,
//! with one difference: after each of the 2^cost key-expansion rounds (about 60 µs at cost 12)
//! the thread yields. A password thread in `SCHED_IDLE` is still picked now and then when the
//! CPU is contended, and without a yield it then holds the CPU until the next scheduler tick
//! (4 ms at HZ=250), which is what raised token requests' p99 beside logins (BENCHMARKS.md).
//! Hashing new passwords stays with `bcrypt::hash`; the unit tests check this function against
//! `bcrypt::verify`.

use base64::Engine;
use blowfish::Blowfish;
use std::sync::atomic::{AtomicBool, Ordering};
use subtle::ConstantTimeEq;

/// bcrypt reads at most 72 bytes of password, its terminating NUL included.
const MAX_KEY_LEN: usize = 72;
/// "OrpheanBeholderScryDoubt", the text bcrypt encrypts 64 times.
const MAGIC: [u32; 6] = [
    0x4f72_7068,
    0x6561_6e42,
    0x6568_6f6c,
    0x6465_7253,
    0x6372_7944,
    0x6f75_6274,
];

/// Whether `password` matches the modular-crypt `hash` ($2a$, $2b$, $2x$ or $2y$). A hash that
/// does not parse matches nothing.
#[cfg(test)]
pub fn verify(password: &[u8], hash: &str) -> bool {
    verify_paced(password, hash, &AtomicBool::new(false))
}

/// As `verify`, yielding between rounds only while `hurry` is off: a check that is overdue
/// (a login waiting on a saturated CPU, `password.rs`) finishes its rounds in one piece.
pub fn verify_paced(password: &[u8], hash: &str, hurry: &AtomicBool) -> bool {
    let Some(parsed) = Parsed::from(hash) else {
        return false;
    };
    let mut key = Vec::with_capacity(password.len() + 1);
    key.extend_from_slice(password);
    key.push(0);
    key.truncate(MAX_KEY_LEN);
    let output = bcrypt_yielding(parsed.cost, &parsed.salt, &key, hurry);
    // The encoded hash carries 23 of the 24 output bytes.
    output[..23].ct_eq(&parsed.digest).into()
}

struct Parsed {
    cost: u32,
    salt: [u8; 16],
    digest: Vec<u8>,
}

impl Parsed {
    fn from(hash: &str) -> Option<Parsed> {
        let mut parts = hash.split('$');
        let (Some(""), Some(version), Some(cost), Some(rest), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !matches!(version, "2a" | "2b" | "2x" | "2y") || cost.len() != 2 || rest.len() != 53 {
            return None;
        }
        let cost: u32 = cost.parse().ok().filter(|c| (4..=31).contains(c))?;
        let (salt, digest) = (rest.get(..22)?, rest.get(22..)?);
        let salt = bcrypt::BASE_64.decode(salt).ok()?.try_into().ok()?;
        let digest = bcrypt::BASE_64.decode(digest).ok()?;
        (digest.len() == 23).then_some(Parsed { cost, salt, digest })
    }
}

fn bcrypt_yielding(cost: u32, salt: &[u8; 16], key: &[u8], hurry: &AtomicBool) -> [u8; 24] {
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, key);
    for _ in 0..1u32 << cost {
        state.bc_expand_key(key);
        state.bc_expand_key(salt);
        if !hurry.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
    }
    let mut text = MAGIC;
    for pair in text.chunks_exact_mut(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = l;
            pair[1] = r;
        }
    }
    let mut output = [0u8; 24];
    for (bytes, word) in output.chunks_exact_mut(4).zip(text) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    output
}

#[cfg(test)]
mod tests {
    use super::verify;

    fn agrees(password: &[u8], hash: &str) {
        let ours = verify(password, hash);
        let theirs = bcrypt::verify(password, hash).unwrap_or(false);
        assert_eq!(ours, theirs, "password {password:?} against {hash}");
    }

    #[test]
    fn agrees_with_the_bcrypt_crate() {
        let passwords: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"correct horse".to_vec(),
            "pässwörd ✓".as_bytes().to_vec(),
            b"nul\0inside".to_vec(),
            vec![b'x'; 70],
            vec![b'x'; 71],
            vec![b'x'; 72],
            vec![b'x'; 100],
        ];
        for password in &passwords {
            let hash = bcrypt::hash(password, 4).unwrap();
            assert!(verify(password, &hash), "own hash of {password:?}");
            for other in &passwords {
                agrees(other, &hash);
            }
            // The same digest under the other version prefixes.
            for version in ["2a", "2x", "2y"] {
                agrees(password, &hash.replacen("2b", version, 1));
            }
        }
    }

    #[test]
    fn known_vector() {
        // From jBCrypt's test suite, also used by the bcrypt crate.
        let hash = "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe";
        assert!(verify(b"a", hash) && bcrypt::verify("a", hash).unwrap());
        assert!(!verify(b"b", hash));
    }

    #[test]
    fn malformed_hashes_match_nothing() {
        let good = bcrypt::hash("pw", 4).unwrap();
        for hash in [
            "",
            "$2b$04$",
            &good.replacen("$2b$", "$3b$", 1),
            &good.replacen("$04$", "$4$", 1),
            &good.replacen("$04$", "$03$", 1),
            &good[..good.len() - 1],
            &format!("{good}x"),
            &format!("{good}$"),
            &format!("{}!", &good[..good.len() - 1]),
        ] {
            assert!(!verify(b"pw", hash), "{hash:?}");
        }
    }
}

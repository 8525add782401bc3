//! Finding 12 of issue 10: an ES256 signature `(r, s)` has a twin `(r, n − s)` that verifies
//! just as well, so every token had a second spelling that introspected active. gatehouse
//! now signs only the low-`s` form and accepts only it, so each token has one spelling.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::helpers::{on_both_backends, spawn_app};
use crate::resource::Bookshop;

/// The order of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// The signature bytes `r ‖ s` of a compact JWS.
fn signature(token: &str) -> Vec<u8> {
    let sig = URL_SAFE_NO_PAD
        .decode(token.rsplit_once('.').unwrap().1)
        .unwrap();
    assert_eq!(sig.len(), 64, "ES256 signatures are r ‖ s, 32 bytes each");
    sig
}

/// `n − s`, as an attacker holding only the token would compute it.
fn n_minus(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// The same token with `s` replaced by `n − s`: a different string, the same signed content.
fn twin(token: &str) -> String {
    let sig = signature(token);
    let mut flipped = sig[..32].to_vec();
    flipped.extend(n_minus(&sig[32..]));
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(flipped))
}

/// Whether `s ≤ ⌊n/2⌋`, i.e. `s < n − s` (n is odd, so they are never equal).
fn is_low_s(token: &str) -> bool {
    let s = signature(token)[32..].to_vec();
    s < n_minus(&s)
}

on_both_backends! {
    async fn finding_12_the_high_s_twin_of_a_token_is_inactive_and_refused_by_apis(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["books:read"]);
        let token = app.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();
        let twin = twin(&token);
        assert_ne!(twin, token);
        // The twin is a mathematically valid signature: a generic JWT library accepts it.
        app.verify(&twin).await;

        assert_eq!(app.introspect(&api, &twin).await, serde_json::json!({ "active": false }));
        assert_eq!(app.introspect(&api, &token).await["active"], true, "the original stays active");

        let shop = Bookshop::start(&app, |_| {}).await;
        assert!(shop.verifier.verify(&twin).await.is_err(), "gatehouse_resource refuses the twin");
        assert_eq!(shop.get(Some(&twin)).await.status(), 401);
        assert_eq!(shop.get(Some(&token)).await.status(), 200);

        // Revoking the twin is a no-op: it names no token of ours, so the original lives on.
        assert_eq!(app.revoke(&api, &twin).await.status(), 200);
        assert_eq!(app.introspect(&api, &token).await["active"], true);
    }

    async fn finding_12_every_token_the_server_mints_is_low_s(db) {
        let app = spawn_app(db).await;
        let api = app.service_client(&["a"]);
        // A random signature is high-s half the time: 50 low ones by chance is 1 in 2^50.
        for _ in 0..50 {
            let token = app.client_credentials(&api).await["access_token"].as_str().unwrap().to_owned();
            assert!(is_low_s(&token), "{token}");
            assert!(!is_low_s(&twin(&token)));
        }
    }
}

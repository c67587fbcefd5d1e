//! `Xkit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the key is the
//! endpoint's whole secret (`whsec_...`) as bytes; the timestamp lets receivers refuse replays.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The header value for `body` sent at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same value as Python's `hmac.new(b"whsec_test", b'1700000000.{"id":"e1"}', sha256)`.
    #[test]
    fn the_signature_is_the_documented_hmac() {
        assert_eq!(
            signature_header("whsec_test", 1_700_000_000, r#"{"id":"e1"}"#),
            "t=1700000000,v1=6a85cb117c993612a34c72b4cfb5a16baed25a80d26e298ce0e6671320fd07c8"
        );
    }
}

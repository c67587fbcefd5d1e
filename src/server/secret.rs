//! Secrets as the server handles them: generated at random, stored and compared as SHA-256
//! hashes only, and PKCE challenges. Every secret it hashes has at least 256 bits of entropy,
//! so a fast hash is enough (there is nothing to brute-force).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The SHA-256 of a secret, as stored.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(stored_hash: &[u8; 32], presented_secret: &str) -> bool {
    secret_hash(presented_secret).ct_eq(stored_hash).into()
}

/// `bytes` random bytes as unpadded base64url text.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

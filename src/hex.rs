//! Digests as the trees spell them: lower-case hex of md5 and sha256.

use md5::Md5;
use sha2::{Digest, Sha256};

/// The md5 of `bytes`, as `delorean.repo.md5` and DLRN's aggregate names
/// spell it.
pub fn md5(bytes: &[u8]) -> String {
    ::hex::encode(Md5::digest(bytes))
}

/// The sha256 of `bytes`, as `SHA256SUMS` spells it.
pub fn sha256(bytes: &[u8]) -> String {
    ::hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex of a finished digest.
pub fn encode(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_lower_case_hex() {
        assert_eq!(super::md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            super::sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

//! Unit tests of signing and verification.

use std::io::Write;

use crate::verify::Digester;
use crate::DigestAlgorithm;

/// The Reference digest gives, for every algorithm and however the bytes
/// are split into writes, what a one-shot EVP digest gives.
#[test]
fn digester_matches_evp_for_every_algorithm() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for algorithm in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha224,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let expected = openssl::hash::hash(algorithm.message_digest(), &data).unwrap();
        for split in [0, 1, 63, 64, 65, 4999, 5000] {
            let mut digester = Digester::new(algorithm).unwrap();
            digester.write_all(&data[..split]).unwrap();
            digester.write_all(&data[split..]).unwrap();
            assert_eq!(digester.finish().unwrap(), &expected[..], "{algorithm:?} {split}");
        }
    }
}

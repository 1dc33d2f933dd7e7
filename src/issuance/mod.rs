//! The signing keys (ring, or a PKCS#11 token), signer certificates (x509-parser), COSE
//! sealing and the key ceremony. The only module that holds or asks for a private key; it does
//! no I/O besides loading keys, talking to the token and writing ceremony files.

pub mod ceremony;
pub mod cli;
pub mod cms;
pub mod example;
pub mod keys;
pub mod list_signer;
pub mod note_key;
pub mod pkcs11;
pub mod seal;
pub mod trust_list;

pub use cms::PdfSigner;
pub use example::generate_example_set;
pub use keys::{
    check_key_dir, check_key_dir_at, Custody, KeyAccess, KeyError, KeyRef, KeyReport, KeySet,
    Signer, SignerStatus,
};
pub use list_signer::{ListSignError, ListSigner};
pub use seal::{SealError, Sealer};

/// The key folder's file holding the server secret pickup codes are stored under (an HMAC
/// key, not a signing key): every key folder gets one (`keys init-root`, the example set);
/// `distribution::pickup_key` reads it.
pub const PICKUP_SECRET_FILE: &str = "pickup-secret";

#[cfg(test)]
mod tests;

//! The signing keys (ring), signer certificates (x509-parser) and COSE sealing. The only module
//! that holds a private key; it does no I/O besides loading keys (and writing the example set).

pub mod example;
pub mod keys;
pub mod list_signer;
pub mod seal;
pub mod trust_list;

pub use example::generate_example_set;
pub use keys::{
    check_key_dir, check_key_dir_at, KeyError, KeyReport, KeySet, Signer, SignerStatus,
};
pub use list_signer::{ListSignError, ListSigner};
pub use seal::{SealError, Sealer};

#[cfg(test)]
mod tests;

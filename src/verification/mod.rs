//! Decoding and verifying a QR payload / COSE_Sign1 against a trust list. Holds no private key:
//! everything here works from certificates and public keys only, so the offline `verify`
//! command and the public verify route can never touch signing material.

pub mod bundle;
pub mod cert;
pub mod envelope;
pub mod gate;
pub mod log_inclusion;
pub mod offline;
pub mod pades;
pub mod page;
pub mod pdf_check;
pub mod qr;
pub mod rate_limit;
pub mod seal_cache;
pub mod service;
pub mod signed_list;
pub mod trust;
pub mod verdict;

pub use cert::{kid_of, Curve, Kid, SignerKey};
pub use envelope::{verify_envelope_with_cert, verify_envelope_with_key, Envelope, EnvelopeError};
pub use qr::{decode_qr_text, qr_text};
pub use trust::{verify_cose, TrustError, TrustList, TrustListSigner, TrustStore, VerifiedSeal};
pub use verdict::{check_seal, judge, LicenceSummary, Reason, Verdict};

//! Decoding and verifying a QR payload / COSE_Sign1 against a trust list. Holds no private key.

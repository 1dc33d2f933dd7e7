//! The signing keys (ring), signer certificates (x509-parser) and COSE sealing. The only module that holds a private key.

//! The claims sealed into a licence's COSE_Sign1 (DESIGN §4).

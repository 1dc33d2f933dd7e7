//! The transparency log's data: its entries and the RFC 6962 Merkle tree over them. Pure (no
//! storage, no keys), so that `storage` can keep the tree and `tlog` can serve and witness it.

pub mod entry;
pub mod merkle;
pub mod note;

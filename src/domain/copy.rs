//! The copies of a certificate: the original (正本) and, for some types, a duplicate (副本).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CopyKind {
    Original,
    Duplicate,
}

impl CopyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyKind::Original => "original",
            CopyKind::Duplicate => "duplicate",
        }
    }

    /// The marking printed on the page.
    pub fn label_zh(self) -> &'static str {
        match self {
            CopyKind::Original => "正本",
            CopyKind::Duplicate => "副本",
        }
    }

    pub fn parse(s: &str) -> Option<CopyKind> {
        match s {
            "original" => Some(CopyKind::Original),
            "duplicate" => Some(CopyKind::Duplicate),
            _ => None,
        }
    }
}

impl fmt::Display for CopyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

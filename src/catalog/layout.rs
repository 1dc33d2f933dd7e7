//! Layout families (`templates-certs/layouts/*.toml`): page size and where each block goes.
//! Coordinates are millimetres from the top-left corner of the page, y growing downwards.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// File stem, e.g. `landscape_a3`.
    pub id: String,
    /// Chinese name of the family, e.g. `横版A3（营业执照式）`.
    pub name: String,
    pub width_mm: f32,
    pub height_mm: f32,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub role: BlockRole,
    pub x_mm: f32,
    pub y_mm: f32,
    pub w_mm: f32,
    pub h_mm: f32,
    /// `fields` blocks only: the grid of label/value cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockRole {
    /// The certificate's Chinese name, with the English name small below.
    Title,
    /// 正本 / 副本, and the electronic-copy or specimen marking.
    CopyMark,
    /// Licence number and identifier (证照标识).
    Numbers,
    /// Holder name and code.
    Holder,
    /// Grid of the short fields (every kind except `multiline`), in catalog order.
    Fields,
    /// The multiline fields, stacked, each with its label (经营范围 runs to 800 characters).
    LongText,
    /// Issuing authority, date of issue and validity.
    Issuer,
    /// The red round seal: a circle of diameter min(w, h) centred in the block.
    Seal,
    /// The QR code with its quiet zone; at least 30 mm wide.
    Qr,
    /// The security-stock sheet serial, when known.
    Serial,
}

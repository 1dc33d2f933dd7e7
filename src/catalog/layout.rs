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

impl BlockRole {
    pub const ALL: [BlockRole; 10] = [
        BlockRole::Title,
        BlockRole::CopyMark,
        BlockRole::Numbers,
        BlockRole::Holder,
        BlockRole::Fields,
        BlockRole::LongText,
        BlockRole::Issuer,
        BlockRole::Seal,
        BlockRole::Qr,
        BlockRole::Serial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlockRole::Title => "title",
            BlockRole::CopyMark => "copy_mark",
            BlockRole::Numbers => "numbers",
            BlockRole::Holder => "holder",
            BlockRole::Fields => "fields",
            BlockRole::LongText => "long_text",
            BlockRole::Issuer => "issuer",
            BlockRole::Seal => "seal",
            BlockRole::Qr => "qr",
            BlockRole::Serial => "serial",
        }
    }

    /// Roles a renderer draws exactly once per page.
    fn must_be_unique(self) -> bool {
        matches!(
            self,
            BlockRole::Title
                | BlockRole::Qr
                | BlockRole::Seal
                | BlockRole::Issuer
                | BlockRole::Numbers
                | BlockRole::Holder
        )
    }
}

/// The smallest printed QR side (docs/architecture.md, "Licences"): a phone must read it from arm's length.
pub const MIN_QR_MM: f32 = 30.0;

/// What is wrong with a layout; `field` is a path such as `blocks[3].w_mm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutProblem {
    pub field: String,
    pub message: String,
}

impl Layout {
    /// The first block with this role.
    pub fn block(&self, role: BlockRole) -> Option<&Block> {
        self.blocks.iter().find(|b| b.role == role)
    }

    /// Every block with this role, in file order (`fields` may be split over several blocks).
    pub fn blocks_with(&self, role: BlockRole) -> impl Iterator<Item = &Block> {
        self.blocks.iter().filter(move |b| b.role == role)
    }

    /// How many short fields the `fields` grid blocks hold: columns x rows, summed.
    pub fn fields_capacity(&self) -> u32 {
        self.blocks_with(BlockRole::Fields)
            .map(|b| b.columns.unwrap_or(0) * b.rows.unwrap_or(0))
            .sum()
    }

    pub fn has_long_text(&self) -> bool {
        self.block(BlockRole::LongText).is_some()
    }

    /// Checks the page geometry and the role set; every problem is reported.
    pub fn check(&self) -> Vec<LayoutProblem> {
        let mut problems = Vec::new();
        let mut push =
            |field: String, message: String| problems.push(LayoutProblem { field, message });
        if !(self.width_mm > 0.0 && self.height_mm > 0.0) {
            push(
                "width_mm".into(),
                "page width and height must be positive".into(),
            );
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let at = format!("blocks[{i}] ({})", b.role.as_str());
            let finite = [b.x_mm, b.y_mm, b.w_mm, b.h_mm]
                .iter()
                .all(|v| v.is_finite());
            if !finite || b.w_mm <= 0.0 || b.h_mm <= 0.0 {
                push(
                    format!("{at}.w_mm"),
                    "block width and height must be positive numbers".into(),
                );
                continue;
            }
            if b.x_mm < 0.0
                || b.y_mm < 0.0
                || b.x_mm + b.w_mm > self.width_mm
                || b.y_mm + b.h_mm > self.height_mm
            {
                push(
                    format!("{at}.x_mm"),
                    format!(
                        "block ({}, {}, {} x {}) lies outside the {} x {} mm page",
                        b.x_mm, b.y_mm, b.w_mm, b.h_mm, self.width_mm, self.height_mm
                    ),
                );
            }
            if b.role == BlockRole::Qr && (b.w_mm < MIN_QR_MM || b.h_mm < MIN_QR_MM) {
                push(
                    format!("{at}.w_mm"),
                    format!("the QR block must be at least {MIN_QR_MM} mm on both sides"),
                );
            }
            match (b.role, b.columns, b.rows) {
                (BlockRole::Fields, Some(c), Some(r)) if c > 0 && r > 0 => {}
                (BlockRole::Fields, _, _) => push(
                    format!("{at}.columns"),
                    "a fields block needs columns and rows, both at least 1".into(),
                ),
                (_, None, None) => {}
                _ => push(
                    format!("{at}.columns"),
                    "only fields blocks take columns and rows".into(),
                ),
            }
        }
        for role in BlockRole::ALL {
            let n = self.blocks_with(role).count();
            if role.must_be_unique() && n != 1 {
                push(
                    "blocks".into(),
                    format!("exactly one {} block is needed, found {n}", role.as_str()),
                );
            }
        }
        if self.fields_capacity() == 0 {
            push(
                "blocks".into(),
                "at least one fields block is needed".into(),
            );
        }
        problems
    }
}

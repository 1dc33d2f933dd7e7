//! One certificate page: the frame, then each layout block by its role. Everything is placed
//! inside its block; text that is too long shrinks in steps and wraps, never spills.

use printpdf::{Color, FontId, Mm, PdfPage};

use super::canvas::{rgb, Canvas};
use super::fonts::{Face, Fonts};
use super::geometry::{BoxMm, PageGeometry, Placed, PlacedKind};
use super::qr::{self, QrRuns};
use super::text::{self, SizeRange};
use super::{seal, CertificateView, RenderError, RenderMode, MIN_QR_MM};
use crate::catalog::layout::{Block, BlockRole};
use crate::domain::copy::CopyKind;

mod draw;
mod plan;

pub(crate) struct FontIds {
    pub body: FontId,
    pub title: FontId,
}

fn ink_colour() -> Color {
    rgb(0.08, 0.08, 0.1)
}
/// The frame's colour ([`super::artwork`] draws the frame).
pub(crate) const FRAME_RGB: (f32, f32, f32) = (0.62, 0.38, 0.14);
fn watermark_colour() -> Color {
    rgb(0.93, 0.84, 0.84)
}

/// Ascent of a CJK glyph box above the baseline, in em (the ideographic em box sits about
/// 0.88 above and 0.12 below the baseline in Noto CJK).
const ASCENT: f32 = 0.88;

/// Checked, once per document, before any page is drawn.
pub(crate) struct Plan {
    pub title_uses_title_face: bool,
}

const VALIDITY_LABEL: &str = "有效期限";
const LICENCE_NO_LABEL: &str = "证照编号";
const IDENTIFIER_LABEL: &str = "证照标识";

/// Largest body size: 14 pt on A4 and smaller pages, 15 pt on A3.
const MAX_BODY_MM: f32 = 4.94;
const MAX_BODY_A3_MM: f32 = 5.3;
/// Smallest body size the grid starts from (7.4 pt, the card's).
const MIN_BODY_MM: f32 = 2.6;
/// Body size as a share of the grid's row pitch.
const ROW_FILL: f32 = 0.45;
/// Widest row pitch, in body sizes: a short grid keeps its rows together instead of
/// spreading a few lines over the whole page.
const MAX_PITCH_EM: f32 = 4.2;
/// The numbers line is reference data: a step below the body size.
const NUMBERS_STEP: f32 = 0.9;

/// Columns and rows the grid uses for `n` fields: one column when the planned rows hold
/// them all (each value then gets the whole width), else the planned columns.
fn grid_dims(b: &Block, n: usize) -> (usize, usize) {
    let planned_rows = (b.rows.unwrap_or(1) as usize).max(1);
    let cols = (b.columns.unwrap_or(1).max(1) as usize)
        .min(n.div_ceil(planned_rows))
        .max(1);
    (cols, n.div_ceil(cols).max(1))
}

/// How the fields grid and the long text share the writing area, and the page's body
/// size that follows. The grid's rows spread over its block (at most [`MAX_PITCH_EM`]
/// apart), so a permit with five fields fills its page like one with twelve. Where the
/// long-text block sits under the grid in the same column (the portrait pages), the two
/// are one writing area: without long text the grid takes all of it; with long text, a
/// grid that needs less than its block hands the rest down to the long text, which moves
/// up under it.
struct Flow {
    base: f32,
    /// Rows the grid uses.
    rows: usize,
    /// The grid's height: its rows at the row pitch.
    fields_h: f32,
    /// Top of the long text when it moves up under the grid.
    long_top: Option<f32>,
}

impl Flow {
    fn new(view: &CertificateView) -> Flow {
        let layout = view.layout;
        let max_size = if layout.width_mm.max(layout.height_mm) > 300.0 {
            MAX_BODY_A3_MM
        } else {
            MAX_BODY_MM
        };
        let (size, rows, fields_h, long_top) = match layout.block(BlockRole::Fields) {
            Some(f) => {
                let (_, rows) = grid_dims(f, view.fields.len());
                let stacked = layout.block(BlockRole::LongText).filter(|lt| {
                    lt.y_mm >= f.y_mm + f.h_mm - 0.01
                        && lt.x_mm <= f.x_mm + 0.01
                        && lt.x_mm + lt.w_mm >= f.x_mm + f.w_mm - 0.01
                });
                let avail = match stacked {
                    Some(lt) if view.long_texts.is_empty() => lt.y_mm + lt.h_mm - f.y_mm,
                    _ => f.h_mm,
                };
                let raw = avail / rows as f32;
                let size = (raw * ROW_FILL).clamp(MIN_BODY_MM, max_size);
                let pitch = raw.min(MAX_PITCH_EM * size);
                let fields_h = pitch * rows as f32;
                let long_top = stacked
                    .filter(|_| !view.long_texts.is_empty())
                    .map(|lt| f.y_mm + fields_h + (lt.y_mm - f.y_mm - f.h_mm));
                (size, rows, fields_h, long_top)
            }
            None => (4.2, 1, 0.0, None),
        };
        Flow {
            base: page_text_size(layout, size),
            rows,
            fields_h,
            long_top,
        }
    }

    fn fields_block(&self, b: &Block) -> Block {
        Block {
            h_mm: self.fields_h,
            ..b.clone()
        }
    }

    fn long_text_block(&self, b: &Block) -> Block {
        match self.long_top {
            Some(top) if top < b.y_mm => Block {
                y_mm: top,
                h_mm: b.y_mm + b.h_mm - top,
                ..b.clone()
            },
            _ => b.clone(),
        }
    }
}

/// One body size for the page: the fields grid's, lowered to what the holder and numbers
/// rows can hold, so that the holder's name is never set smaller than a field label
/// under it (the blocks then read as one form, not as three type sizes).
fn page_text_size(layout: &crate::catalog::layout::Layout, grid_size: f32) -> f32 {
    let mut size = grid_size;
    for b in &layout.blocks {
        match b.role {
            BlockRole::Holder => size = size.min(b.h_mm / 2.0 * HOLDER_FILL),
            BlockRole::Numbers => size = size.min(b.h_mm / 2.0 * NUMBERS_FILL / NUMBERS_STEP),
            _ => {}
        }
    }
    size.max(MIN_BODY_MM)
}

/// Share of a row's height the text may take in the holder and numbers blocks.
const HOLDER_FILL: f32 = 0.55;
const NUMBERS_FILL: f32 = 0.65;

/// The frame's outer rule sits this far in from the page edge.
pub(crate) fn frame_margin(w: f32, h: f32) -> f32 {
    (w.min(h) * 0.03).clamp(5.0, 10.0)
}

/// Distance from the outer rule to the thin inner line.
pub(crate) const FRAME_INNER_MM: f32 = 3.7;

/// The frame's outer rule and inner line (centre lines) on a `w` x `h` page.
pub(crate) fn frame_lines(w: f32, h: f32) -> (BoxMm, BoxMm) {
    let m = frame_margin(w, h);
    let i = m + FRAME_INNER_MM;
    (
        BoxMm::new(m, m, w - 2.0 * m, h - 2.0 * m),
        BoxMm::new(i, i, w - 2.0 * i, h - 2.0 * i),
    )
}

struct PageCtx<'a> {
    canvas: Canvas,
    body: &'a Face,
    title: &'a Face,
    ids: &'a FontIds,
    /// What was placed, when the caller asked ([`Plan::geometry`]).
    placed: Option<Vec<Placed>>,
    /// The block being drawn.
    role: BlockRole,
}

/// Which face a run is set in.
#[derive(Clone, Copy)]
enum Ink {
    Body,
    Title,
}

#[derive(Clone, Copy)]
enum Wrap {
    AsNeeded,
    Never,
}

#[derive(Clone, Copy)]
enum Align {
    Centre,
    Right,
}

/// The size `value` gets in a `width` x `row_h` slot through [`PageCtx::labelled`], starting
/// from `size`.
fn fitted_size(body: &Face, value: &str, width: f32, row_h: f32, size: f32, wrap: Wrap) -> f32 {
    let height = match wrap {
        Wrap::AsNeeded => row_h * 0.92,
        Wrap::Never => size.min(row_h),
    };
    text::fit(
        value,
        |c| body.advance_em(c),
        width,
        height,
        SizeRange::new(size, size * 0.3),
    )
    .size_mm
}

struct Rect {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

impl Rect {
    fn new(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, w, h }
    }
}

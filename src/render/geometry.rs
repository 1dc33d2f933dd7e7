//! Where the renderer put things on a page, and the rules a certificate page keeps: every
//! text run, the QR code with its quiet zone and the seal at least [`MIN_INSIDE_FRAME_MM`]
//! inside the frame's inner line and [`MIN_EDGE_MM`] from every page edge; no two text runs
//! overlap, nor text and the QR; the red seal covers only the issuer block (authority and
//! date), as on a stamped paper licence.

use crate::catalog::layout::BlockRole;

/// Nearest any text, the QR or the seal may come to a page edge.
pub const MIN_EDGE_MM: f32 = 10.0;
/// How far inside the frame's inner line everything stays.
pub const MIN_INSIDE_FRAME_MM: f32 = 3.0;

/// Rounding allowance: coordinates are written at 1/100 pt (3.5 µm).
const EPS_MM: f32 = 0.01;

/// A rectangle in millimetres from the page's top-left corner, y downwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMm {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BoxMm {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> BoxMm {
        BoxMm { x, y, w, h }
    }

    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// The interiors intersect (boxes that only touch do not overlap).
    pub fn overlaps(&self, other: &BoxMm) -> bool {
        self.x < other.right() - EPS_MM
            && other.x < self.right() - EPS_MM
            && self.y < other.bottom() - EPS_MM
            && other.y < self.bottom() - EPS_MM
    }

    /// The smallest distance from this box to the edges of `outer`, negative when it sticks
    /// out.
    pub fn inset_in(&self, outer: &BoxMm) -> f32 {
        (self.x - outer.x)
            .min(self.y - outer.y)
            .min(outer.right() - self.right())
            .min(outer.bottom() - self.bottom())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacedKind {
    /// One text run: its em box (advance width by the em height of the size).
    Text,
    /// The QR code's square, quiet zone included.
    Qr,
    /// The seal's bounding square (the seal itself is the inscribed circle).
    Seal,
}

/// One thing drawn on a page, from the layout block it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub kind: PlacedKind,
    pub role: BlockRole,
    pub bbox: BoxMm,
    /// The run's text (empty for the QR and the seal), for messages.
    pub text: String,
}

/// One page as the renderer laid it out. The specimen watermark and the frame's ornament
/// are not listed: they are meant to run under and around everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct PageGeometry {
    pub width_mm: f32,
    pub height_mm: f32,
    /// The frame's inner line (its centre line).
    pub frame_inner: BoxMm,
    pub placed: Vec<Placed>,
}

impl PageGeometry {
    /// Every broken rule, as a sentence naming what and where; empty when the page is fine.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let page = BoxMm::new(0.0, 0.0, self.width_mm, self.height_mm);
        for p in &self.placed {
            let edge = p.bbox.inset_in(&page);
            if edge < MIN_EDGE_MM - EPS_MM {
                out.push(format!(
                    "{} is {edge:.2} mm from the page edge (at least {MIN_EDGE_MM})",
                    describe(p)
                ));
            }
            let inside = p.bbox.inset_in(&self.frame_inner);
            if inside < MIN_INSIDE_FRAME_MM - EPS_MM {
                out.push(format!(
                    "{} is {inside:.2} mm inside the frame's inner line (at least \
                     {MIN_INSIDE_FRAME_MM})",
                    describe(p)
                ));
            }
        }
        for (i, a) in self.placed.iter().enumerate() {
            for b in &self.placed[i + 1..] {
                if may_overlap(a, b) {
                    continue;
                }
                let hit = match (a.kind, b.kind) {
                    (PlacedKind::Seal, _) => circle_hits(&a.bbox, &b.bbox),
                    (_, PlacedKind::Seal) => circle_hits(&b.bbox, &a.bbox),
                    _ => a.bbox.overlaps(&b.bbox),
                };
                if hit {
                    out.push(format!("{} overlaps {}", describe(a), describe(b)));
                }
            }
        }
        out
    }
}

/// The one intended overlap: the seal stamped over the issuing authority and the date.
fn may_overlap(a: &Placed, b: &Placed) -> bool {
    let seal_on_issuer = |s: &Placed, t: &Placed| {
        s.kind == PlacedKind::Seal && t.kind == PlacedKind::Text && t.role == BlockRole::Issuer
    };
    seal_on_issuer(a, b) || seal_on_issuer(b, a)
}

/// Whether the circle inscribed in `square` reaches into `rect`'s interior.
fn circle_hits(square: &BoxMm, rect: &BoxMm) -> bool {
    let r = square.w.min(square.h) / 2.0;
    let (cx, cy) = (square.x + square.w / 2.0, square.y + square.h / 2.0);
    let nx = cx.clamp(rect.x, rect.right());
    let ny = cy.clamp(rect.y, rect.bottom());
    let (dx, dy) = (cx - nx, cy - ny);
    dx * dx + dy * dy < (r - EPS_MM).max(0.0).powi(2)
}

fn describe(p: &Placed) -> String {
    let what = match p.kind {
        PlacedKind::Text => format!("text {:?}", p.text),
        PlacedKind::Qr => "the QR code".to_string(),
        PlacedKind::Seal => "the seal".to_string(),
    };
    let b = p.bbox;
    format!(
        "{what} ({} block, {:.1},{:.1} {:.1}x{:.1} mm)",
        p.role.as_str(),
        b.x,
        b.y,
        b.w,
        b.h
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(role: BlockRole, x: f32, y: f32, w: f32, h: f32) -> Placed {
        Placed {
            kind: PlacedKind::Text,
            role,
            bbox: BoxMm::new(x, y, w, h),
            text: "证".into(),
        }
    }

    fn page(placed: Vec<Placed>) -> PageGeometry {
        PageGeometry {
            width_mm: 210.0,
            height_mm: 297.0,
            frame_inner: BoxMm::new(10.0, 10.0, 190.0, 277.0),
            placed,
        }
    }

    #[test]
    fn a_clean_page_has_no_problems() {
        let p = page(vec![
            text(BlockRole::Holder, 20.0, 20.0, 50.0, 5.0),
            // Touching, not overlapping.
            text(BlockRole::Holder, 70.0, 20.0, 50.0, 5.0),
            text(BlockRole::Issuer, 120.0, 250.0, 40.0, 5.0),
            Placed {
                kind: PlacedKind::Seal,
                role: BlockRole::Seal,
                bbox: BoxMm::new(125.0, 240.0, 30.0, 30.0),
                text: String::new(),
            },
            // In the seal's bounding square but outside its circle.
            text(BlockRole::Fields, 120.0, 236.0, 6.0, 5.0),
        ]);
        assert_eq!(p.problems(), Vec::<String>::new());
    }

    #[test]
    fn text_near_the_frame_or_edge_is_reported() {
        let p = page(vec![text(BlockRole::Title, 9.0, 40.0, 20.0, 5.0)]);
        let problems = p.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("page edge"), "{problems:?}");
        assert!(problems[1].contains("inner line"), "{problems:?}");
    }

    #[test]
    fn overlaps_are_reported_except_the_seal_on_the_issuer() {
        let seal = Placed {
            kind: PlacedKind::Seal,
            role: BlockRole::Seal,
            bbox: BoxMm::new(120.0, 230.0, 30.0, 30.0),
            text: String::new(),
        };
        let qr = Placed {
            kind: PlacedKind::Qr,
            role: BlockRole::Qr,
            bbox: BoxMm::new(20.0, 200.0, 30.0, 30.0),
            text: String::new(),
        };
        let p = page(vec![
            text(BlockRole::Fields, 20.0, 20.0, 50.0, 5.0),
            text(BlockRole::Fields, 60.0, 22.0, 50.0, 5.0),
            text(BlockRole::Issuer, 125.0, 240.0, 40.0, 8.0),
            text(BlockRole::LongText, 130.0, 245.0, 10.0, 5.0),
            seal,
            qr,
            text(BlockRole::Serial, 40.0, 220.0, 30.0, 5.0),
        ]);
        let problems = p.problems();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems.iter().any(|m| m.contains("fields block, 60.0")));
        assert!(problems
            .iter()
            .any(|m| m.contains("long_text") && m.contains("issuer")));
        assert!(problems
            .iter()
            .any(|m| m.contains("long_text") && m.contains("the seal")));
        assert!(problems
            .iter()
            .any(|m| m.contains("the QR") && m.contains("serial")));
    }
}

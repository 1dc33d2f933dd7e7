//! A page's operation list, addressed the way layouts are written: millimetres from the
//! top-left corner, y downwards. printpdf wants points from the bottom-left; the flip lives
//! here and nowhere else.

use printpdf::{
    Color, CurTransMat, FontId, LinePoint, Op, PaintMode, PdfFontHandle, Point, Polygon,
    PolygonRing, Pt, Rect, Rgb, TextItem, TextMatrix, WindingOrder,
};

const PT_PER_MM: f32 = 72.0 / 25.4;

/// Millimetres to points, rounded to 1/100 pt (3.5 micrometres): the content streams are
/// mostly coordinates, and eight-digit floats would double their size for no visible gain.
fn to_pt(mm: f32) -> Pt {
    Pt((mm * PT_PER_MM * 100.0).round() / 100.0)
}

/// Bezier handle length for a quarter circle.
const KAPPA: f32 = 0.552_284_8;

pub(crate) fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

pub(crate) struct Canvas {
    pub(crate) ops: Vec<Op>,
    height_mm: f32,
}

impl Canvas {
    pub(crate) fn new(height_mm: f32) -> Canvas {
        Canvas {
            ops: Vec::with_capacity(512),
            height_mm,
        }
    }

    fn pt(&self, x_mm: f32, y_mm: f32) -> Point {
        Point {
            x: to_pt(x_mm),
            y: to_pt(self.height_mm - y_mm),
        }
    }

    fn lp(&self, x_mm: f32, y_mm: f32, bezier: bool) -> LinePoint {
        LinePoint {
            p: self.pt(x_mm, y_mm),
            bezier,
        }
    }

    pub(crate) fn stroke_style(&mut self, color: Color, width_mm: f32) {
        self.ops.push(Op::SetOutlineColor { col: color });
        self.ops.push(Op::SetOutlineThickness {
            pt: to_pt(width_mm),
        });
    }

    pub(crate) fn fill_color(&mut self, color: Color) {
        self.ops.push(Op::SetFillColor { col: color });
    }

    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, mode: PaintMode) {
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: to_pt(x),
                y: to_pt(self.height_mm - y - h),
                width: to_pt(w),
                height: to_pt(h),
                mode: Some(mode),
                winding_order: Some(WindingOrder::NonZero),
            },
        });
    }

    pub(crate) fn circle(&mut self, cx: f32, cy: f32, r: f32, mode: PaintMode) {
        let ring = self.circle_ring(cx, cy, r);
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon {
                rings: vec![ring],
                mode,
                winding_order: WindingOrder::NonZero,
            },
        });
    }

    fn circle_ring(&self, cx: f32, cy: f32, r: f32) -> PolygonRing {
        let k = r * KAPPA;
        // Four quarter arcs, clockwise on the page starting at the right-hand point.
        let quarters = [
            ((cx + r, cy + k), (cx + k, cy + r), (cx, cy + r)),
            ((cx - k, cy + r), (cx - r, cy + k), (cx - r, cy)),
            ((cx - r, cy - k), (cx - k, cy - r), (cx, cy - r)),
            ((cx + k, cy - r), (cx + r, cy - k), (cx + r, cy)),
        ];
        let mut points = vec![self.lp(cx + r, cy, false)];
        for (c1, c2, end) in quarters {
            points.push(self.lp(c1.0, c1.1, true));
            points.push(self.lp(c2.0, c2.1, true));
            points.push(self.lp(end.0, end.1, false));
        }
        PolygonRing { points }
    }

    /// A filled polygon with several rings; the rings' union is painted (nonzero rule, all
    /// rings drawn in the same direction), in one path so no seams appear between them.
    pub(crate) fn fill_rings(&mut self, rings: &[Vec<(f32, f32)>]) {
        let rings = rings
            .iter()
            .map(|ring| PolygonRing {
                points: ring.iter().map(|(x, y)| self.lp(*x, *y, false)).collect(),
            })
            .collect();
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon {
                rings,
                mode: PaintMode::Fill,
                winding_order: WindingOrder::NonZero,
            },
        });
    }

    /// Cells of a `rows`-row grid whose top-left corner is at (x, y) mm, each `cell_mm`
    /// square, filled as one path: each run (row from the top, first column, length) is one
    /// `re` rectangle. The path is written in grid units under a matrix, so each run is four
    /// small integers: a QR code of 1,500 runs deflates to 4.5 KB, against 12 KB as
    /// four-point polygons. printpdf has no operator for a rectangle that does not paint
    /// at once, so `re` and `f` go through as raw operators (the documents are saved with
    /// `secure: false`, which only lets such operators through).
    pub(crate) fn fill_grid(
        &mut self,
        (x, y): (f32, f32),
        cell_mm: f32,
        rows: usize,
        runs: &[(usize, usize, usize)],
    ) {
        use printpdf::DictItem;
        let origin = self.pt(x, y + rows as f32 * cell_mm);
        let s = cell_mm * PT_PER_MM;
        self.ops.reserve(runs.len() + 4);
        self.ops.push(Op::SaveGraphicsState);
        self.ops.push(Op::SetTransformationMatrix {
            matrix: CurTransMat::Raw([s, 0.0, 0.0, s, origin.x.0, origin.y.0]),
        });
        let int = |v: usize| DictItem::Int(i64::try_from(v).unwrap_or(i64::MAX));
        for &(row, col, len) in runs {
            // Grid rows run down the page, y up: row r spans y = rows-r-1 .. rows-r.
            self.ops.push(Op::Unknown {
                key: "re".to_string(),
                value: vec![
                    int(col),
                    int(rows.saturating_sub(row + 1)),
                    int(len),
                    DictItem::Int(1),
                ],
            });
        }
        self.ops.push(Op::Unknown {
            key: "f".to_string(),
            value: Vec::new(),
        });
        self.ops.push(Op::RestoreGraphicsState);
    }

    /// Text with its baseline starting at (x, baseline) in mm; `size_mm` is the em size.
    pub(crate) fn text(
        &mut self,
        font: &FontId,
        size_mm: f32,
        x: f32,
        baseline: f32,
        text: &str,
        color: Color,
    ) {
        let p = self.pt(x, baseline);
        self.text_with_matrix(font, size_mm, TextMatrix::Translate(p.x, p.y), text, color);
    }

    /// Text whose baseline starts at `at` (x, y) and runs at `angle_deg` counter-clockwise
    /// from the page's horizontal (as seen on the page).
    pub(crate) fn text_rotated(
        &mut self,
        font: &FontId,
        size_mm: f32,
        (x, y): (f32, f32),
        angle_deg: f32,
        text: &str,
        color: Color,
    ) {
        let p = self.pt(x, y);
        let (s, c) = angle_deg.to_radians().sin_cos();
        let (s, c) = ((s * 1e4).round() / 1e4, (c * 1e4).round() / 1e4);
        let matrix = TextMatrix::Raw([c, s, -s, c, p.x.0, p.y.0]);
        self.text_with_matrix(font, size_mm, matrix, text, color);
    }

    fn text_with_matrix(
        &mut self,
        font: &FontId,
        size_mm: f32,
        matrix: TextMatrix,
        text: &str,
        color: Color,
    ) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: color },
            Op::SetFont {
                font: PdfFontHandle::External(font.clone()),
                // Rounded down, so a line fitted to its box never grows out of it.
                size: Pt((size_mm * PT_PER_MM * 100.0).floor() / 100.0),
            },
            Op::SetTextMatrix { matrix },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }
}

//! The red round electronic seal, drawn as vectors (no image, so it stays sharp and small):
//! a thick outer ring, a thin inner ring, a five-pointed star, and the issuing authority's
//! name set clockwise around the upper rim with each character turned to face outwards, as on
//! a Chinese official seal (公章).

use printpdf::{
    BlendMode, Color, ExtendedGraphicsState, ExtendedGraphicsStateId, FontId, Op, PaintMode,
};

use super::canvas::{rgb, Canvas};
use super::fonts::Face;

pub(crate) fn seal_red() -> Color {
    rgb(0.86, 0.08, 0.12)
}

/// Largest arc the rim text may span, in degrees, centred on the top of the seal; the lower
/// part of the rim stays free as on a real seal.
const MAX_SPAN_DEG: f32 = 250.0;

pub(crate) fn draw(
    canvas: &mut Canvas,
    face: &Face,
    font: &FontId,
    cx: f32,
    cy: f32,
    radius: f32,
    authority: &str,
) {
    let red = seal_red();
    // Multiply, as seal ink does on paper: the authority and date under the seal stay legible.
    canvas.ops.push(Op::SaveGraphicsState);
    canvas.ops.push(Op::LoadGraphicsState {
        gs: ExtendedGraphicsStateId(SEAL_GS.to_string()),
    });
    draw_marks(canvas, face, font, cx, cy, radius, authority, red);
    canvas.ops.push(Op::RestoreGraphicsState);
}

/// Resource name of the seal's graphics state (multiply blending), registered per document.
pub(crate) const SEAL_GS: &str = "GSseal";

pub(crate) fn seal_graphics_state() -> ExtendedGraphicsState {
    ExtendedGraphicsState::default().with_blend_mode(BlendMode::multiply())
}

#[allow(clippy::too_many_arguments)]
fn draw_marks(
    canvas: &mut Canvas,
    face: &Face,
    font: &FontId,
    cx: f32,
    cy: f32,
    radius: f32,
    authority: &str,
    red: Color,
) {
    let outer_w = radius * 0.055;
    let inner_r = radius - outer_w * 2.2;
    canvas.stroke_style(red.clone(), outer_w);
    canvas.circle(cx, cy, radius - outer_w / 2.0, PaintMode::Stroke);
    canvas.stroke_style(red.clone(), outer_w * 0.25);
    canvas.circle(cx, cy, inner_r, PaintMode::Stroke);

    canvas.fill_color(red.clone());
    canvas.fill_rings(&[star(cx, cy, radius * 0.3)]);

    let chars: Vec<char> = authority.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.is_empty() {
        return;
    }
    rim_text(canvas, face, font, cx, cy, radius, inner_r, &chars, red);
}

#[allow(clippy::too_many_arguments)]
fn rim_text(
    canvas: &mut Canvas,
    face: &Face,
    font: &FontId,
    cx: f32,
    cy: f32,
    radius: f32,
    inner_r: f32,
    chars: &[char],
    red: Color,
) {
    // Size the characters to the ring's band, then narrow them if the name is long: a
    // 15-character authority name must still fit within the arc.
    let band = radius * 0.26;
    let gap = radius * 0.05;
    let mut size = band;
    let pitch_factor = 1.05;
    let max_span = MAX_SPAN_DEG.to_radians();
    let text_r = |size: f32| inner_r - gap - size * 0.88;
    let arc_len = |size: f32| {
        let w: f32 = chars.iter().map(|c| face.advance_em(*c)).sum::<f32>() * size;
        w * pitch_factor
    };
    while size > radius * 0.08 && arc_len(size) / text_r(size) > max_span {
        size *= 0.95;
    }
    let r = text_r(size);
    let advances: Vec<f32> = chars
        .iter()
        .map(|c| face.advance_em(*c) * size * pitch_factor)
        .collect();
    // Short names spread evenly over a wider arc, as seal engravers do, up to 180 degrees.
    let natural = advances.iter().sum::<f32>() / r;
    let span = natural.max((chars.len() as f32 * 0.42).min(std::f32::consts::PI));
    let span = span.min(max_span);
    let stretch = span / natural;

    // Walk clockwise from the left end of the arc; angles are math angles on the page
    // (counter-clockwise from the right, y up), so the top of the seal is 90 degrees.
    let mut angle = std::f32::consts::FRAC_PI_2 + span / 2.0;
    for (c, adv) in chars.iter().zip(&advances) {
        let step = adv / r * stretch;
        let mid = angle - step / 2.0;
        let glyph_w = face.advance_em(*c) * size;
        // Baseline runs along the tangent (clockwise), the glyph's up points outwards.
        let (sin, cos) = mid.sin_cos();
        let tangent = (sin, -cos);
        let bx = cx + r * cos - tangent.0 * glyph_w / 2.0;
        // Canvas y grows downwards, so the page's y component flips.
        let by = cy - r * sin + tangent.1 * glyph_w / 2.0;
        let text_angle = mid.to_degrees() - 90.0;
        canvas.text_rotated(
            font,
            size,
            (bx, by),
            text_angle,
            &c.to_string(),
            red.clone(),
        );
        angle -= step;
    }
}

/// A five-pointed star centred on (cx, cy), one point straight up; canvas coordinates.
fn star(cx: f32, cy: f32, r: f32) -> Vec<(f32, f32)> {
    // Ratio of the inner to the outer radius of a regular pentagram.
    let inner = r * 0.381_966;
    (0..10)
        .map(|i| {
            let rr = if i % 2 == 0 { r } else { inner };
            let a = std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::PI / 5.0;
            (cx + rr * a.cos(), cy - rr * a.sin())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_has_five_outer_points_on_the_circle_and_the_top_one_up() {
        let pts = star(10.0, 10.0, 5.0);
        assert_eq!(pts.len(), 10);
        assert!((pts[0].0 - 10.0).abs() < 1e-4 && (pts[0].1 - 5.0).abs() < 1e-4);
        for p in pts.iter().step_by(2) {
            let d = ((p.0 - 10.0).powi(2) + (p.1 - 10.0).powi(2)).sqrt();
            assert!((d - 5.0).abs() < 1e-4);
        }
    }
}

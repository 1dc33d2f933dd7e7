//! The QR code as vector modules: each horizontal run of dark modules becomes one rectangle,
//! all of them one filled path, so a print shop's RIP sees sharp edges at any resolution.

use qrcode::{Color as QrColor, EcLevel, QrCode};

use super::canvas::{rgb, Canvas};
use super::RenderError;

/// The quiet zone the QR specification asks for, in modules, on every side.
pub(crate) const QUIET_ZONE: usize = 4;

/// Runs of dark modules per row: (row, first column, length), without the quiet zone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QrRuns {
    pub modules: usize,
    pub runs: Vec<(usize, usize, usize)>,
}

/// Encode at error correction M (docs/architecture.md, "Licences": the seal fits version 15 at M).
pub(crate) fn encode(text: &str) -> Result<QrRuns, RenderError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| RenderError::QrTooLong(e.to_string()))?;
    let n = code.width();
    let mut runs = Vec::new();
    for y in 0..n {
        let mut x = 0;
        while x < n {
            if code[(x, y)] == QrColor::Dark {
                let start = x;
                while x < n && code[(x, y)] == QrColor::Dark {
                    x += 1;
                }
                runs.push((y, start, x - start));
            } else {
                x += 1;
            }
        }
    }
    Ok(QrRuns { modules: n, runs })
}

/// Draw the code as a square of side `size_mm` (quiet zone included) with its top-left
/// corner at (x, y). The square is painted white first so that nothing underneath (the
/// specimen watermark, a guilloche) reaches into the quiet zone.
pub(crate) fn draw(canvas: &mut Canvas, qr: &QrRuns, x: f32, y: f32, size_mm: f32) {
    let total = (qr.modules + 2 * QUIET_ZONE) as f32;
    let m = size_mm / total;
    canvas.fill_color(rgb(1.0, 1.0, 1.0));
    canvas.rect(x, y, size_mm, size_mm, printpdf::PaintMode::Fill);
    let origin = (x + QUIET_ZONE as f32 * m, y + QUIET_ZONE as f32 * m);
    canvas.fill_color(rgb(0.0, 0.0, 0.0));
    canvas.fill_grid(origin, m, qr.modules, &qr.runs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let text = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let qr = encode(text).expect("encode");
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("qr");
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == QrColor::Dark)
            .count();
        let covered: usize = qr.runs.iter().map(|r| r.2).sum();
        assert_eq!(covered, dark);
        assert_eq!(qr.modules, code.width());
        // Finder pattern: the first row starts with a run of 7 dark modules.
        assert_eq!(qr.runs[0], (0, 0, 7));
    }

    #[test]
    fn too_much_data_is_an_error_not_a_panic() {
        let text = "A".repeat(5000);
        assert!(matches!(encode(&text), Err(RenderError::QrTooLong(_))));
    }
}

//! The QR code as vector modules: each horizontal run of dark modules becomes one rectangle,
//! all of them one filled path, so a print shop's RIP sees sharp edges at any resolution.

use qrcode::{Color as QrColor, EcLevel};

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
    let dark = symbol(text).map_err(|e| RenderError::QrTooLong(e.to_string()))?;
    let n = (dark.len() as f64).sqrt() as usize;
    let mut runs = Vec::new();
    for y in 0..n {
        let row = &dark[y * n..(y + 1) * n];
        let mut x = 0;
        while x < n {
            if row[x] {
                let start = x;
                while x < n && row[x] {
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

/// The eight mask patterns, in the order of their numbers.
const MASKS: [qrcode::canvas::MaskPattern; 8] = {
    use qrcode::canvas::MaskPattern;
    [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ]
};

/// The symbol's modules, row by row (true = dark). What `QrCode::with_error_correction_level`
/// builds, with the mask chosen by [`penalty`] instead of the qrcode crate's scoring, which
/// took a quarter of a page's render (a boxed closure per module and pattern).
fn symbol(text: &str) -> qrcode::QrResult<Vec<bool>> {
    use qrcode::canvas::{Canvas, Module};
    let bits = qrcode::bits::encode_auto(text.as_bytes(), EcLevel::M)?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M)?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let n = usize::try_from(version.width()).unwrap_or(0);
    let mut best: Option<(u32, Vec<bool>)> = None;
    for pattern in MASKS {
        let mut masked = canvas.clone();
        masked.apply_mask(pattern);
        // Row by row, as `QrCode` indexes it (y * width + x). The crate compares modules,
        // not colours, in its run and block penalties (a data module and a function module
        // of one colour differ): so do we, so that the same mask is chosen.
        let modules: Vec<u8> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as i16, (i / n) as i16);
                match masked.get(x, y) {
                    Module::Empty => 0,
                    Module::Masked(QrColor::Light) => 1,
                    Module::Masked(QrColor::Dark) => 2,
                    Module::Unmasked(QrColor::Light) => 3,
                    Module::Unmasked(QrColor::Dark) => 4,
                }
            })
            .collect();
        let score = penalty(&modules, n);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            let dark = modules.iter().map(|m| matches!(m, 2 | 4)).collect();
            best = Some((score, dark));
        }
    }
    Ok(best.map(|(_, dark)| dark).unwrap_or_default())
}

/// The mask penalty of ISO/IEC 18004 §8.8.2, counted as the qrcode crate counts it (the
/// same mask wins): runs of five or more equal modules in a row or column (length - 2 each),
/// 2x2 blocks of equal modules (3 each), finder-like 1:1:3:1:1 colour patterns without four
/// light modules before or after them (40 each), and the distance of the dark share from
/// half. `modules` holds one kind per module (see [`symbol`]); 2 and 4 are dark.
fn penalty(modules: &[u8], n: usize) -> u32 {
    let at = |x: usize, y: usize, horizontal: bool| {
        if horizontal {
            modules[y * n + x]
        } else {
            modules[x * n + y]
        }
    };
    let dark = |m: u8| matches!(m, 2 | 4);
    let mut score = 0u32;
    for horizontal in [true, false] {
        for i in 0..n {
            let mut run = 1u32;
            for j in 1..=n {
                if j < n && at(j, i, horizontal) == at(j - 1, i, horizontal) {
                    run += 1;
                } else {
                    if run >= 5 {
                        score += run - 2;
                    }
                    run = 1;
                }
            }
            const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
            for j in 0..n.saturating_sub(6) {
                if (0..7).any(|k| dark(at(j + k, i, horizontal)) != FINDER[k]) {
                    continue;
                }
                let dark_at = |k: usize| k < n && dark(at(k, i, horizontal));
                let before = (j.saturating_sub(4)..j).any(dark_at);
                let after = (j + 7..j + 11).any(dark_at);
                if !before || !after {
                    score += 40;
                }
            }
        }
    }
    for y in 0..n.saturating_sub(1) {
        for x in 0..n - 1 {
            let m = modules[y * n + x];
            if modules[y * n + x + 1] == m
                && modules[(y + 1) * n + x] == m
                && modules[(y + 1) * n + x + 1] == m
            {
                score += 3;
            }
        }
    }
    let dark_count = modules.iter().filter(|m| dark(**m)).count();
    let ratio = (dark_count * 200 / modules.len().max(1)) as u32;
    score + ratio.abs_diff(100)
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
    use qrcode::QrCode;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let text = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let qr = encode(text).expect("encode");
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("qr");
        let dark = symbol(text).expect("symbol");
        let covered: usize = qr.runs.iter().map(|r| r.2).sum();
        assert_eq!(covered, dark.iter().filter(|d| **d).count());
        assert_eq!(qr.modules, code.width());
        for &(row, col, len) in &qr.runs {
            assert!((col..col + len).all(|c| dark[row * qr.modules + c]));
        }
        // Finder pattern: the first row starts with a run of 7 dark modules.
        assert_eq!(qr.runs[0], (0, 0, 7));
    }

    /// The symbol is the qrcode crate's with one of the eight masks: the same modules, in
    /// the same orientation, as `QrCode` gives for that mask.
    #[test]
    fn the_symbol_is_the_crates_with_one_of_its_masks() {
        use qrcode::canvas::Canvas;
        let text = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJ";
        let ours = symbol(text).expect("symbol");
        let bits = qrcode::bits::encode_auto(text.as_bytes(), EcLevel::M).expect("bits");
        let version = bits.version();
        let (data, ec) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).expect("ec");
        let mut canvas = Canvas::new(version, EcLevel::M);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        let candidates: Vec<Vec<bool>> = MASKS
            .into_iter()
            .map(|p| {
                let mut c = canvas.clone();
                c.apply_mask(p);
                c.into_colors()
                    .into_iter()
                    .map(|c| c == QrColor::Dark)
                    .collect()
            })
            .collect();
        assert!(candidates.contains(&ours));
        // And the crate's own choice is one of them, read the same way (row by row).
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("qr");
        let theirs: Vec<bool> = (0..code.width() * code.width())
            .map(|i| code[(i % code.width(), i / code.width())] == QrColor::Dark)
            .collect();
        assert!(candidates.contains(&theirs));
        assert_eq!(ours, theirs, "the same mask as the crate's");
        // The same for a sealed licence's length (version 15-17) and a short text.
        for text in [
            "SPECIMEN-NOT-VALID".to_string(),
            format!(
                "HTTPS://VERIFY.EXAMPLE.CN/V/{}",
                "QRSTUVWXYZ234567ABCDEFGHIJKLMNOP".repeat(20)
            ),
        ] {
            let code =
                QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("qr");
            let w = code.width();
            let theirs: Vec<bool> = (0..w * w)
                .map(|i| code[(i % w, i / w)] == QrColor::Dark)
                .collect();
            assert_eq!(symbol(&text).expect("symbol"), theirs, "{text}");
        }
        // Not transposed: a transposed symbol would match none of them.
        let n = code.width();
        let transposed: Vec<bool> = (0..n * n).map(|i| ours[(i % n) * n + i / n]).collect();
        assert!(!candidates.contains(&transposed));
    }

    #[test]
    fn too_much_data_is_an_error_not_a_panic() {
        let text = "A".repeat(5000);
        assert!(matches!(encode(&text), Err(RenderError::QrTooLong(_))));
    }
}

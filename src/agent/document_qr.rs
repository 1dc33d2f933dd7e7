//! Read the QR code back out of the PDF the agent is about to print, so that what reaches the
//! paper is tied to the seal the agent verified (not only the claim's `qr_text`).
//!
//! The renderer draws the code as vectors: one filled path of axis-aligned rectangles, each a
//! horizontal run of dark modules (`render/qr.rs`). Here every page's content stream is read
//! with `lopdf`, that path is found, its rectangles are put back on the module grid and the
//! grid is decoded with `rqrr`: no rasteriser, about a millisecond a page. The form XObjects a
//! page draws (crosscert's frame is one) are read the same way, so none can show a code other
//! than the one read here; a page that carries a raster image is refused.

use lopdf::content::Content;
use lopdf::{Document, Object};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentQrError {
    #[error("the document is not a readable PDF: {0}")]
    Unreadable(String),
    #[error("the document has no pages")]
    NoPages,
    #[error("page {0} draws an image or an unreadable XObject; crosscert documents never do")]
    ForeignObject(usize),
    #[error("page {0} carries no QR code")]
    NoCode(usize),
    #[error("page {0} carries {1} QR codes")]
    SeveralCodes(usize, usize),
    #[error("the QR code on page {0} does not decode: {1}")]
    Undecodable(usize, String),
}

/// An axis-aligned rectangle in user space: x0 < x1, y0 < y1 (y up).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

fn num(o: &Object) -> Option<f32> {
    match o {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

fn nums(ops: &[Object]) -> Option<Vec<f32>> {
    ops.iter().map(num).collect()
}

/// The path built so far: closed axis-aligned rectangles, and whether anything else
/// (curves, open or slanted polygons) is in it.
#[derive(Default)]
struct Path {
    rects: Vec<Rect>,
    current: Vec<(f32, f32)>,
    other: bool,
}

impl Path {
    fn close_subpath(&mut self) {
        let pts = std::mem::take(&mut self.current);
        if pts.is_empty() {
            return;
        }
        match rect_of(&pts) {
            Some(r) => self.rects.push(r),
            None => self.other = true,
        }
    }
}

/// Four corners (a fifth equal to the first allowed) with only horizontal and vertical sides.
fn rect_of(pts: &[(f32, f32)]) -> Option<Rect> {
    let pts = match pts {
        [a, .., z] if pts.len() == 5 && a == z => &pts[..4],
        _ if pts.len() == 4 => pts,
        _ => return None,
    };
    let eq = |a: f32, b: f32| (a - b).abs() < 1e-3;
    for i in 0..4 {
        let (a, b) = (pts[i], pts[(i + 1) % 4]);
        if !(eq(a.0, b.0) || eq(a.1, b.1)) {
            return None;
        }
    }
    let xs = pts.iter().map(|p| p.0);
    let ys = pts.iter().map(|p| p.1);
    let r = Rect {
        x0: xs.clone().fold(f32::INFINITY, f32::min),
        x1: xs.fold(f32::NEG_INFINITY, f32::max),
        y0: ys.clone().fold(f32::INFINITY, f32::min),
        y1: ys.fold(f32::NEG_INFINITY, f32::max),
    };
    (r.x1 - r.x0 > 1e-3 && r.y1 - r.y0 > 1e-3).then_some(r)
}

/// The module grid a set of rectangles draws, if they draw a QR symbol: every rectangle one
/// module high, a whole number of modules wide, inside a square of a QR size (21..=177).
fn grid_of(rects: &[Rect]) -> Option<(usize, Vec<bool>)> {
    if rects.len() < 21 {
        return None;
    }
    // Every rectangle is one module high; their mean height, not the smallest, estimates the
    // module: heights are rounded to 1/100 pt, and on a dense code (85 modules of ~1.2 pt)
    // the smallest one alone could miscount the rows by one.
    let mean_height = rects.iter().map(|r| r.y1 - r.y0).sum::<f32>() / rects.len() as f32;
    let left = rects.iter().map(|r| r.x0).fold(f32::INFINITY, f32::min);
    let right = rects.iter().map(|r| r.x1).fold(f32::NEG_INFINITY, f32::max);
    let bottom = rects.iter().map(|r| r.y0).fold(f32::INFINITY, f32::min);
    let top = rects.iter().map(|r| r.y1).fold(f32::NEG_INFINITY, f32::max);
    // Coordinates are rounded (to 1/100 pt by the renderer): the mean height is only a
    // first guess of the module; the whole symbol's height divided by its count is exact
    // enough to place every run.
    let rows = ((top - bottom) / mean_height).round();
    if rows < 1.0 {
        return None;
    }
    let module = (top - bottom) / rows;
    let cells = |len: f32| -> Option<usize> {
        let n = len / module;
        ((n - n.round()).abs() < 0.25).then_some(n.round() as usize)
    };
    let n = cells(right - left)?;
    if cells(top - bottom)? != n || !(21..=177).contains(&n) || (n - 17) % 4 != 0 {
        return None;
    }
    let mut dark = vec![false; n * n];
    for r in rects {
        if cells(r.y1 - r.y0)? != 1 {
            return None;
        }
        // Rows counted from the top: PDF's y runs upwards.
        let row = cells(top - r.y1)?;
        let col = cells(r.x0 - left)?;
        let len = cells(r.x1 - r.x0)?;
        if row >= n || col + len > n {
            return None;
        }
        for c in col..col + len {
            dark[row * n + c] = true;
        }
    }
    Some((n, dark))
}

fn decode_grid(n: usize, dark: &[bool]) -> Result<String, String> {
    let grid = rqrr::SimpleGrid::from_func(n, |x, y| dark[y * n + x]);
    rqrr::Grid::new(grid)
        .decode()
        .map(|(_, text)| text)
        .map_err(|e| e.to_string())
}

/// How deep form XObjects may nest inside each other (crosscert's pages use one level).
const MAX_FORM_DEPTH: usize = 4;

fn resolve<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The XObject resources of a page or form dictionary.
fn xobjects_of<'a>(
    doc: &'a Document,
    owner: &'a lopdf::Dictionary,
) -> Option<&'a lopdf::Dictionary> {
    let resources = resolve(doc, owner.get(b"Resources").ok()?)?
        .as_dict()
        .ok()?;
    resolve(doc, resources.get(b"XObject").ok()?)?
        .as_dict()
        .ok()
}

/// The filled rectangle paths of one content stream that look like a QR symbol, the form
/// XObjects it draws included: a form's content is read like the page's (the frame around
/// crosscert's pages is one), so a form cannot show a code that is not read here. Images
/// and anything else drawn with `Do` are refused.
fn candidate_grids(
    doc: &Document,
    content: &Content,
    xobjects: Option<&lopdf::Dictionary>,
    page: usize,
    depth: usize,
) -> Result<Vec<(usize, Vec<bool>)>, DocumentQrError> {
    let mut path = Path::default();
    let mut found = Vec::new();
    for op in &content.operations {
        let args = &op.operands;
        match op.operator.as_str() {
            "m" => {
                path.close_subpath();
                if let Some(v) = nums(args).filter(|v| v.len() == 2) {
                    path.current.push((v[0], v[1]));
                } else {
                    path.other = true;
                }
            }
            "l" => match nums(args).filter(|v| v.len() == 2) {
                Some(v) => path.current.push((v[0], v[1])),
                None => path.other = true,
            },
            "h" => path.close_subpath(),
            "re" => {
                path.close_subpath();
                match nums(args).filter(|v| v.len() == 4) {
                    Some(v) => {
                        let (x0, x1) = (v[0].min(v[0] + v[2]), v[0].max(v[0] + v[2]));
                        let (y0, y1) = (v[1].min(v[1] + v[3]), v[1].max(v[1] + v[3]));
                        path.rects.push(Rect { x0, y0, x1, y1 });
                    }
                    None => path.other = true,
                }
            }
            "c" | "v" | "y" => path.other = true,
            "f" | "F" | "f*" | "B" | "B*" | "b" | "b*" => {
                path.close_subpath();
                let p = std::mem::take(&mut path);
                if !p.other {
                    if let Some(grid) = grid_of(&p.rects) {
                        found.push(grid);
                    }
                }
            }
            "S" | "s" | "n" => path = Path::default(),
            // Inline images could show another code than the one read here.
            "BI" => return Err(DocumentQrError::ForeignObject(page)),
            "Do" => {
                let form = args
                    .first()
                    .and_then(|name| name.as_name().ok())
                    .and_then(|name| xobjects?.get(name).ok())
                    .and_then(|o| resolve(doc, o))
                    .and_then(|o| o.as_stream().ok())
                    .filter(|f| {
                        f.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Form")
                    })
                    .filter(|_| depth < MAX_FORM_DEPTH)
                    .ok_or(DocumentQrError::ForeignObject(page))?;
                let bytes = form
                    .decompressed_content()
                    .unwrap_or_else(|_| form.content.clone());
                let inner = Content::decode(&bytes)
                    .map_err(|e| DocumentQrError::Unreadable(format!("page {page}: {e}")))?;
                let inner_xobjects = xobjects_of(doc, &form.dict).or(xobjects);
                found.extend(candidate_grids(
                    doc,
                    &inner,
                    inner_xobjects,
                    page,
                    depth + 1,
                )?);
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The text of the one QR code on each page, in page order.
pub fn qr_texts(pdf: &[u8]) -> Result<Vec<String>, DocumentQrError> {
    let doc = Document::load_mem(pdf).map_err(|e| DocumentQrError::Unreadable(e.to_string()))?;
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(DocumentQrError::NoPages);
    }
    let mut texts = Vec::with_capacity(pages.len());
    for (index, (_, page_id)) in pages.iter().enumerate() {
        let page = index + 1;
        let bytes = doc.get_page_content(*page_id);
        let content = Content::decode(&bytes)
            .map_err(|e| DocumentQrError::Unreadable(format!("page {page}: {e}")))?;
        let page_dict = doc
            .get_dictionary(*page_id)
            .map_err(|e| DocumentQrError::Unreadable(format!("page {page}: {e}")))?;
        let grids = candidate_grids(&doc, &content, xobjects_of(&doc, page_dict), page, 0)?;
        let mut decoded = Vec::new();
        let mut last_error = None;
        for (n, dark) in &grids {
            match decode_grid(*n, dark) {
                Ok(text) => decoded.push(text),
                Err(e) => last_error = Some(e),
            }
        }
        match decoded.len() {
            1 => texts.extend(decoded),
            0 => {
                return Err(match last_error {
                    Some(e) => DocumentQrError::Undecodable(page, e),
                    None => DocumentQrError::NoCode(page),
                })
            }
            k => return Err(DocumentQrError::SeveralCodes(page, k)),
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF whose content stream draws `text`'s QR code as the renderer does: one
    /// filled path of rectangles, each a run of dark modules.
    fn pdf_with_qr(text: &str, paint: &str, extra_ops: &str) -> Vec<u8> {
        use lopdf::{dictionary, Stream};
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .unwrap();
        let n = code.width();
        // An awkward module, coordinates rounded to 1/100 pt as the renderer writes them.
        let m = 1.2345f32;
        let (ox, oy_top) = (100.0f32, 700.0f32);
        let mut ops = String::from("1 1 1 rg 90 500 220 220 re f\n0 0 0 rg\n");
        for y in 0..n {
            let mut x = 0;
            while x < n {
                if code[(x, y)] == qrcode::Color::Dark {
                    let start = x;
                    while x < n && code[(x, y)] == qrcode::Color::Dark {
                        x += 1;
                    }
                    let (x0, x1) = (ox + start as f32 * m, ox + x as f32 * m);
                    let (y1, y0) = (oy_top - y as f32 * m, oy_top - (y + 1) as f32 * m);
                    ops.push_str(&format!(
                        "{x0:.2} {y1:.2} m {x1:.2} {y1:.2} l {x1:.2} {y0:.2} l {x0:.2} {y0:.2} l\n"
                    ));
                } else {
                    x += 1;
                }
            }
        }
        ops.push_str("h ");
        ops.push_str(paint);
        ops.push('\n');
        ops.push_str(extra_ops);
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let content_id = doc.add_object(Stream::new(dictionary! {}, ops.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![page_id.into()],
                "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn vector_qr_codes_small_and_large_read_back_as_their_text() {
        let small = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJ";
        assert_eq!(qr_texts(&pdf_with_qr(small, "f", "")).unwrap(), vec![small]);
        // A real seal's length: a version 12-15 symbol.
        let large = format!(
            "HTTPS://VERIFY.EXAMPLE.CN/V/{}",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".repeat(11)
        );
        assert_eq!(
            qr_texts(&pdf_with_qr(&large, "f", "")).unwrap(),
            vec![large]
        );
    }

    #[test]
    fn dense_codes_of_a_seal_with_its_status_claim_read_back() {
        // Versions 16 to 21 (a business licence's seal with its status-list claim is 16-17):
        // the smallest rounded rectangle height alone miscounted such a symbol's rows.
        for len in [600usize, 680, 760, 840, 920, 1000] {
            let text = format!(
                "HTTPS://VERIFY.EXAMPLE.CN/V/{}",
                "QRSTUVWXYZ234567ABCDEFGHIJKLMNOP"
                    .chars()
                    .cycle()
                    .skip(len % 7)
                    .take(len)
                    .collect::<String>()
            );
            assert_eq!(
                qr_texts(&pdf_with_qr(&text, "f", "")).unwrap(),
                vec![text.clone()],
                "{len} characters"
            );
        }
    }

    #[test]
    fn images_and_missing_or_unreadable_codes_are_refused() {
        let text = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGH";
        assert_eq!(
            qr_texts(&pdf_with_qr(text, "f", "q 10 0 0 10 0 0 cm /Im1 Do Q\n")),
            Err(DocumentQrError::ForeignObject(1))
        );
        // The code's path stroked or discarded instead of filled: nothing shows it.
        assert_eq!(
            qr_texts(&pdf_with_qr(text, "S", "")),
            Err(DocumentQrError::NoCode(1))
        );
        assert_eq!(
            qr_texts(&pdf_with_qr(text, "n", "")),
            Err(DocumentQrError::NoCode(1))
        );
        assert!(matches!(
            qr_texts(b"%PDF-1.7 not really"),
            Err(DocumentQrError::Unreadable(_))
        ));
    }

    /// `pdf` with a form XObject `/Fm` drawing `form_ops` in its page's resources.
    fn with_form(pdf: &[u8], form_ops: Vec<u8>) -> Vec<u8> {
        use lopdf::{dictionary, Stream};
        let mut doc = Document::load_mem(pdf).unwrap();
        let form = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            },
            form_ops,
        ));
        let page_id = *doc.get_pages().values().next().unwrap();
        doc.get_dictionary_mut(page_id).unwrap().set(
            "Resources",
            dictionary! {"XObject" => dictionary! {"Fm" => form}},
        );
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn form_xobjects_are_read_so_none_hides_a_second_code() {
        let text = "HTTPS://VERIFY.EXAMPLE.CN/V/ABCDEFGH";
        // A frame-like form (no code): the page's code is read.
        let framed = with_form(
            &pdf_with_qr(text, "f", "q /Fm Do Q\n"),
            b"0.6 0.4 0.1 rg 1 1 m 2 2 l 3 1 l h f 10 10 500 800 re S".to_vec(),
        );
        assert_eq!(qr_texts(&framed).unwrap(), vec![text]);
        // A form that draws another code: two codes on the page.
        let other = pdf_with_qr("HTTPS://ELSEWHERE.EXAMPLE/V/X", "f", "");
        let other_doc = Document::load_mem(&other).unwrap();
        let other_page = *other_doc.get_pages().values().next().unwrap();
        let second = with_form(
            &pdf_with_qr(text, "f", "q /Fm Do Q\n"),
            other_doc.get_page_content(other_page),
        );
        assert_eq!(qr_texts(&second), Err(DocumentQrError::SeveralCodes(1, 2)));
        // A form that is not in the page's resources is refused.
        assert_eq!(
            qr_texts(&with_form(
                &pdf_with_qr(text, "f", "/Other Do\n"),
                Vec::new()
            )),
            Err(DocumentQrError::ForeignObject(1))
        );
    }

    #[test]
    fn rectangles_that_are_not_a_qr_grid_are_ignored() {
        let rects: Vec<Rect> = (0..30)
            .map(|i| Rect {
                x0: i as f32 * 3.0,
                y0: 0.0,
                x1: i as f32 * 3.0 + 2.0,
                y1: 7.0 + i as f32,
            })
            .collect();
        assert!(grid_of(&rects).is_none());
    }
}

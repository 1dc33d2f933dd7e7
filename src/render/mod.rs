//! PDF (printpdf) and QR (qrcode) drawing of certificates: one page per copy, laid out by the
//! type's layout family, with the red electronic seal and the QR drawn as vectors. No database.
//! Fonts are loaded once per process ([`Fonts::load`]); [`render_pdf`] is pure and
//! deterministic (same view, same bytes), so a job's stored SHA-256 can be recomputed.

mod canvas;
mod cff;
mod fonts;
mod page;
mod qr;
pub mod samples;
mod seal;
mod text;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use chrono::NaiveDate;
use printpdf::{
    ExtendedGraphicsStateId, FontId, Op, PdfDocument, PdfFont, PdfFontHandle, PdfPage,
    PdfSaveOptions, TextItem,
};

use crate::catalog::layout::Layout;
use crate::domain::copy::CopyKind;

pub use fonts::{FontCandidate, Fonts};

/// What a specimen's QR code says instead of the verification URL: scanning a specimen must
/// never look like a valid certificate.
pub const SPECIMEN_QR_TEXT: &str = "SPECIMEN-NOT-VALID";

/// The smallest QR block a layout may give (DESIGN §4: printed at least 30 mm wide).
pub const MIN_QR_MM: f32 = 30.0;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no CJK font found: install the Debian package `fonts-noto-cjk` \
         (scripts/install-deps.sh) or set CROSSCERT_FONT_DIR to a folder holding \
         NotoSansCJK-Regular.ttc; searched {}",
        display_paths(.searched)
    )]
    FontMissing { searched: Vec<PathBuf> },
    #[error("the fonts have no glyph for {chars:?}; the certificate would print empty boxes")]
    MissingGlyphs { chars: String },
    #[error("a certificate needs at least one copy to print")]
    NoCopies,
    #[error("{serials} sheet serials given for {copies} copies")]
    SerialCountMismatch { copies: usize, serials: usize },
    #[error("layout {layout}: the QR block is {width_mm} mm, at least {MIN_QR_MM} mm is required")]
    QrBlockTooSmall { layout: String, width_mm: f32 },
    #[error("layout {layout} has no page size")]
    EmptyPage { layout: String },
    #[error("the QR text does not fit a QR code: {0}")]
    QrTooLong(String),
    #[error("the PDF writer produced an unexpected trailer")]
    Trailer,
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderMode {
    /// A sample for catalog review: a 样本 / SPECIMEN watermark and a QR that says so.
    Specimen,
    /// The holder's electronic copy: marked 电子证照, the real QR.
    Electronic,
    /// For printing on security stock: the real QR and the sheet serial when known.
    Print,
}

/// Everything a certificate page shows. Borrowed, so that callers render straight from their
/// licence record without copying it.
#[derive(Debug, Clone)]
pub struct CertificateView<'a> {
    pub layout: &'a Layout,
    pub title: &'a str,
    pub title_en: &'a str,
    /// e.g. 名称 / 姓名
    pub holder_name_label: &'a str,
    pub holder_name: &'a str,
    /// e.g. 统一社会信用代码 / 公民身份号码
    pub holder_code_label: &'a str,
    pub holder_code: &'a str,
    /// Short fields, label and value, in catalog order.
    pub fields: &'a [(&'a str, &'a str)],
    /// Multiline fields (经营范围 and the like), label and value.
    pub long_texts: &'a [(&'a str, &'a str)],
    /// e.g. "2024年05月20日至2029年05月19日" or "长期".
    pub validity: &'a str,
    /// The issuing authority: printed in the issuer block and around the seal's rim.
    pub authority_name: &'a str,
    pub issued_on: NaiveDate,
    pub licence_no: &'a str,
    pub identifier: &'a str,
    /// The verification text (DESIGN §4); replaced by [`SPECIMEN_QR_TEXT`] on specimens.
    pub qr_text: &'a str,
    /// One page per copy, in this order.
    pub copies: &'a [CopyKind],
    /// The security-stock serial of each page, when known (print mode).
    pub serials: Option<&'a [String]>,
    pub mode: RenderMode,
}

pub(crate) const BODY_FONT: &str = "F1";
pub(crate) const TITLE_FONT: &str = "F2";

/// Render the certificate: one page per copy. Deterministic: the document id is derived from
/// the content and the dates from `issued_on`, so rendering twice gives identical bytes.
pub fn render_pdf(fonts: &Fonts, view: &CertificateView) -> Result<Vec<u8>, RenderError> {
    if view.copies.is_empty() {
        return Err(RenderError::NoCopies);
    }
    if let Some(serials) = view.serials {
        if serials.len() != view.copies.len() {
            return Err(RenderError::SerialCountMismatch {
                copies: view.copies.len(),
                serials: serials.len(),
            });
        }
    }
    let plan = page::Plan::new(fonts, view)?;
    let qr_text = match view.mode {
        RenderMode::Specimen => SPECIMEN_QR_TEXT,
        RenderMode::Electronic | RenderMode::Print => view.qr_text,
    };
    let qr = qr::encode(qr_text)?;

    let mut doc = PdfDocument::new(view.title);
    let info = &mut doc.metadata.info;
    info.producer = "crosscert".to_string();
    info.creator = "crosscert".to_string();
    info.identifier = view.identifier.to_string();
    // The document's dates are the date of issue: a fixed value, unlike "now".
    if let Some(issued) = issued_timestamp(view.issued_on) {
        info.creation_date = issued;
        info.modification_date = issued;
        info.metadata_date = issued;
    }

    // Fixed resource names instead of printpdf's generated ones, which come from a
    // process-wide counter and would differ between two renders of the same certificate.
    let body_id = FontId(BODY_FONT.to_string());
    let title_id = match &fonts.title {
        Some(_) if plan.title_uses_title_face => FontId(TITLE_FONT.to_string()),
        _ => body_id.clone(),
    };
    doc.resources.extgstates.map.insert(
        ExtendedGraphicsStateId(seal::SEAL_GS.to_string()),
        seal::seal_graphics_state(),
    );
    let ids = page::FontIds {
        body: body_id.clone(),
        title: title_id.clone(),
    };

    let pages: Vec<_> = view
        .copies
        .iter()
        .enumerate()
        .map(|(i, copy)| {
            let serial = view.serials.and_then(|s| s.get(i)).map(String::as_str);
            plan.page(fonts, &ids, view, *copy, serial, &qr)
        })
        .collect();
    // Each face embeds from its small load-time subset unless this document shows a
    // character outside it.
    let body_font = fonts.body.for_texts(texts_in(&pages, &body_id));
    doc.resources
        .fonts
        .map
        .insert(body_id.clone(), PdfFont::new(body_font.clone()));
    if title_id != body_id {
        let face = fonts.title_face();
        let title_font = face.for_texts(texts_in(&pages, &title_id));
        doc.resources
            .fonts
            .map
            .insert(title_id.clone(), PdfFont::new(title_font.clone()));
    }
    doc.pages = pages;

    let opts = PdfSaveOptions {
        // Compressed below, at a level chosen for speed (printpdf would use zlib's best).
        optimize: false,
        subset_fonts: true,
        secure: true,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut lo = doc.to_lopdf_document(&opts, &mut warnings);
    shrink_font_programs(&mut lo);
    compress_streams(&mut lo);
    let mut bytes = Vec::new();
    lo.save_to(&mut bytes).map_err(|_| RenderError::Trailer)?;
    fix_document_id(&mut bytes)?;
    Ok(bytes)
}

/// The text shown in `font` on these pages.
fn texts_in<'p>(pages: &'p [PdfPage], font: &'p FontId) -> impl Iterator<Item = &'p str> + 'p {
    pages
        .iter()
        .flat_map(move |page| {
            let mut current: Option<&FontId> = None;
            page.ops.iter().filter_map(move |op| match op {
                Op::SetFont {
                    font: PdfFontHandle::External(id),
                    ..
                } => {
                    current = Some(id);
                    None
                }
                Op::ShowText { items } if current == Some(font) => Some(items.iter()),
                _ => None,
            })
        })
        .flatten()
        .filter_map(|item| match item {
            TextItem::Text(t) => Some(t.as_str()),
            _ => None,
        })
}

/// Cut the unused subroutine tails out of the embedded CFF programs (see [`cff`]).
fn shrink_font_programs(doc: &mut lopdf::Document) {
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        let is_cff = stream
            .dict
            .get(b"Subtype")
            .and_then(lopdf::Object::as_name)
            .is_ok_and(|n| n == b"CIDFontType0C");
        if !is_cff || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        if let Some(smaller) = cff::trim_subroutines(&stream.content) {
            stream.set_content(smaller);
        }
    }
}

/// zlib level for the content and font streams: level 9 (printpdf's choice) took a fifth
/// of the render time for a fraction of a percent in size on CFF outlines and operators.
const ZLIB_LEVEL: u32 = 6;

fn compress_streams(doc: &mut lopdf::Document) {
    use std::io::Write;
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.get(b"Filter").is_ok() || !stream.allows_compression {
            continue;
        }
        let mut encoder = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 2),
            flate2::Compression::new(ZLIB_LEVEL),
        );
        let compressed = encoder
            .write_all(&stream.content)
            .and_then(|()| encoder.finish());
        if let Ok(compressed) = compressed {
            if compressed.len() + 19 < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(compressed);
            }
        }
    }
}

fn issued_timestamp(date: NaiveDate) -> Option<printpdf::OffsetDateTime> {
    let secs = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    printpdf::OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// printpdf writes a random `/ID` pair into the trailer. Replace it, in place and at the same
/// length (the trailer follows the xref table, so no offset moves), with a digest of the rest
/// of the file: the id then identifies the content, as ISO 32000 §14.4 suggests.
fn fix_document_id(bytes: &mut [u8]) -> Result<(), RenderError> {
    let spans = id_spans(bytes).ok_or(RenderError::Trailer)?;
    for (start, end) in spans {
        bytes[start..end].fill(b'0');
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    for (start, end) in spans {
        let hex = hex::encode(digest.as_ref());
        let len = end - start;
        if hex.len() < len {
            return Err(RenderError::Trailer);
        }
        bytes[start..end].copy_from_slice(&hex.as_bytes()[..len]);
    }
    Ok(())
}

/// Byte ranges of the two literal strings inside the trailer's `/ID [(..)(..)]`.
fn id_spans(bytes: &[u8]) -> Option<[(usize, usize); 2]> {
    let key = b"/ID";
    let at = bytes.windows(key.len()).rposition(|w| w == key)?;
    let mut spans = [(0, 0); 2];
    let mut pos = at + key.len();
    for span in &mut spans {
        let open = pos + bytes[pos..].iter().position(|b| *b == b'(')?;
        let close = open + 1 + bytes[open + 1..].iter().position(|b| *b == b')')?;
        if bytes[open + 1..close].contains(&b'\\') {
            return None;
        }
        *span = (open + 1, close);
        pos = close + 1;
    }
    Some(spans)
}

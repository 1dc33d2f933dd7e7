//! PDF (printpdf) and QR (qrcode) drawing of certificates: one page per copy, laid out by the
//! type's layout family, with the red electronic seal and the QR drawn as vectors. No database.
//! Fonts are loaded once per process ([`Fonts::load`]); [`render_pdf`] is pure and
//! deterministic (same view, same bytes), so a job's stored SHA-256 can be recomputed.

pub mod archive;
mod artwork;
mod canvas;
mod cff;
mod fonts;
pub mod geometry;
pub mod pades;
mod page;
pub mod pdfa;
mod qr;
pub mod samples;
mod seal;
mod text;

#[cfg(test)]
mod geometry_tests;
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
pub use geometry::PageGeometry;

/// What a specimen's QR code says instead of the verification URL: scanning a specimen must
/// never look like a valid certificate.
pub const SPECIMEN_QR_TEXT: &str = "SPECIMEN-NOT-VALID";

/// The smallest QR block a layout may give (docs/architecture.md, "Licences": printed at least 30 mm wide).
pub const MIN_QR_MM: f32 = 30.0;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no CJK font found: install the Debian package `fonts-noto-cjk` \
         (scripts/install-deps.sh) or set CROSSCERT_FONT_DIR to a folder holding \
         NotoSerifCJK-Regular.ttc; searched {}",
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
    #[error("a print face's font program could not be cut to the document's glyphs")]
    FontProgram,
    #[error("the electronic licence is not a one-page electronic copy")]
    NotElectronic,
    #[error("the signature ({len} bytes) does not fit its reserved space")]
    SignatureTooLarge { len: usize },
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
    /// The verification text (docs/architecture.md, "Licences"); replaced by [`SPECIMEN_QR_TEXT`] on specimens.
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
    let mut lo = build_document(fonts, view)?;
    compress_streams(&mut lo);
    save(&mut lo)
}

/// Write the document and give its trailer `/ID` the digest of its content.
fn save(lo: &mut lopdf::Document) -> Result<Vec<u8>, RenderError> {
    let mut bytes = Vec::new();
    lo.save_to(&mut bytes).map_err(|_| RenderError::Trailer)?;
    fix_document_id(&mut bytes)?;
    Ok(bytes)
}

/// The certificate's pages as a PDF object tree, fonts cut, streams not yet compressed.
fn build_document(fonts: &Fonts, view: &CertificateView) -> Result<lopdf::Document, RenderError> {
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
    let mut faces = vec![(&fonts.body, body_id.clone())];
    if title_id != body_id {
        faces.push((fonts.title_face(), title_id.clone()));
    }
    let mut lo = to_lopdf(doc, pages, faces)?;
    artwork::add_frame(&mut lo, view.layout.width_mm, view.layout.height_mm)?;
    Ok(lo)
}

/// The document with these pages, each face embedded under its id and cut to the glyphs the
/// pages show; streams not yet compressed.
fn to_lopdf(
    mut doc: PdfDocument,
    pages: Vec<PdfPage>,
    faces: Vec<(&fonts::Face, FontId)>,
) -> Result<lopdf::Document, RenderError> {
    // Each face's glyphs, when the document cuts the face's program itself: then printpdf
    // embeds the face's outline-free stub and the program is cut below; otherwise (a rare
    // character outside the print faces) printpdf subsets the real faces.
    let chosen: Vec<_> = faces
        .into_iter()
        .map(|(face, id)| {
            let (font, gids) = face.for_texts(texts_in(&pages, &id));
            (face, id, font, gids)
        })
        .collect();
    // `for_texts` lists the glyphs only for a face that is cut here.
    let all_cut = chosen.iter().all(|(_, _, _, gids)| gids.is_some());
    let mut cuts: Vec<(&cff::CffCutter, Vec<u16>)> = Vec::new();
    for (face, id, font, gids) in chosen {
        let font = match (all_cut, &face.cut, gids) {
            (true, Some(cut), Some(gids)) => {
                // A face with nothing to show is not embedded at all.
                if !gids.is_empty() {
                    cuts.push((&cut.cutter, gids));
                }
                &cut.stub
            }
            _ => font,
        };
        doc.resources
            .fonts
            .map
            .insert(id, PdfFont::new(font.clone()));
    }
    doc.pages = pages;

    let opts = PdfSaveOptions {
        // Compressed below, at a level chosen for speed (printpdf would use zlib's best).
        optimize: false,
        // When every face is cut here, printpdf embeds each stub whole and the programs
        // are replaced below; otherwise it subsets.
        subset_fonts: !all_cut,
        // Lets the QR code's raw `re`/`f` operators through (`Canvas::fill_grid`); every
        // operator on our pages is our own.
        secure: false,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut lo = doc.to_lopdf_document(&opts, &mut warnings);
    if all_cut {
        cut_font_programs(&mut lo, &cuts)?;
    } else {
        shrink_font_programs(&mut lo);
    }
    Ok(lo)
}

/// What [`render_pdf`] places on each page (text runs, the QR with its quiet zone, the
/// seal, the frame's inner line), without writing the PDF: for checking the layout rules
/// ([`PageGeometry::problems`]).
pub fn page_geometry(
    fonts: &Fonts,
    view: &CertificateView,
) -> Result<Vec<PageGeometry>, RenderError> {
    if view.copies.is_empty() {
        return Err(RenderError::NoCopies);
    }
    let plan = page::Plan::new(fonts, view)?;
    let qr_text = match view.mode {
        RenderMode::Specimen => SPECIMEN_QR_TEXT,
        RenderMode::Electronic | RenderMode::Print => view.qr_text,
    };
    let qr = qr::encode(qr_text)?;
    let body = FontId(BODY_FONT.to_string());
    let ids = page::FontIds {
        body: body.clone(),
        title: match &fonts.title {
            Some(_) if plan.title_uses_title_face => FontId(TITLE_FONT.to_string()),
            _ => body,
        },
    };
    Ok(view
        .copies
        .iter()
        .enumerate()
        .map(|(i, copy)| {
            let serial = view.serials.and_then(|s| s.get(i)).map(String::as_str);
            plan.geometry(fonts, &ids, view, *copy, serial, &qr)
        })
        .collect())
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

/// Replace each embedded print-face stub by the cut of the glyphs the document shows.
fn cut_font_programs(
    doc: &mut lopdf::Document,
    cuts: &[(&cff::CffCutter, Vec<u16>)],
) -> Result<(), RenderError> {
    // (program stream, subset tag) of each face replaced.
    let mut replaced: Vec<(lopdf::ObjectId, String)> = Vec::new();
    for (id, object) in doc.objects.iter_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        let Some((cutter, gids)) = cuts
            .iter()
            .find(|(cutter, _)| stream.content == cutter.stub())
        else {
            continue;
        };
        let program = cutter.cut(gids).ok_or(RenderError::FontProgram)?;
        stream.set_content(program);
        replaced.push((*id, subset_tag(gids)));
    }
    // Each face is embedded once; a face left whole would make a multi-megabyte PDF.
    if replaced.len() != cuts.len() {
        return Err(RenderError::FontProgram);
    }
    // A subset font's name starts with a tag and "+" (PDF 32000-1 §9.6.4): the font
    // descriptor pointing at the program, and the fonts of the same name.
    let mut renames: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for object in doc.objects.values() {
        let Ok(dict) = object.as_dict() else { continue };
        let Ok(program) = dict.get(b"FontFile3").and_then(lopdf::Object::as_reference) else {
            continue;
        };
        let Some((_, tag)) = replaced.iter().find(|(id, _)| *id == program) else {
            continue;
        };
        if let Ok(name) = dict.get(b"FontName").and_then(lopdf::Object::as_name) {
            let mut tagged = format!("{tag}+").into_bytes();
            tagged.extend_from_slice(name);
            renames.push((name.to_vec(), tagged));
        }
    }
    for object in doc.objects.values_mut() {
        let Ok(dict) = object.as_dict_mut() else {
            continue;
        };
        for key in [&b"FontName"[..], b"BaseFont"] {
            let Ok(name) = dict.get(key).and_then(lopdf::Object::as_name) else {
                continue;
            };
            if let Some((_, tagged)) = renames.iter().find(|(old, _)| old == name) {
                dict.set(key, lopdf::Object::Name(tagged.clone()));
            }
        }
    }
    Ok(())
}

/// Six capital letters that depend only on the glyphs kept (deterministic output).
fn subset_tag(gids: &[u16]) -> String {
    // FNV-1a over the glyph ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for g in gids {
        for b in g.to_be_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (0..6)
        .map(|i| char::from(b'A' + ((h >> (i * 8)) % 26) as u8))
        .collect()
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

/// zlib level for page content and the other text streams (flate2 on zlib-rs). Level 9
/// (printpdf's choice) took a fifth of the render time for a fraction of a percent; level 4
/// renders the business licence in 5.4 ms against 5.8 ms at 6, for 150 bytes more on the
/// largest licence. Level 1 would take the largest specimen over 100 KB.
const ZLIB_LEVEL: u32 = 4;

/// zlib level for font programs. CFF charstrings are dense: zlib-rs's level 1 (its fast
/// strategy) loses 16 KB on the largest licence, taking it over 100 KB; from level 2 on the
/// size hardly changes while the time grows.
const FONT_ZLIB_LEVEL: u32 = 2;

fn is_font_program(dict: &lopdf::Dictionary) -> bool {
    dict.get(b"Length1").is_ok()
        || dict
            .get(b"Subtype")
            .and_then(lopdf::Object::as_name)
            .is_ok_and(|n| n == b"CIDFontType0C" || n == b"OpenType" || n == b"Type1C")
}

fn compress_streams(doc: &mut lopdf::Document) {
    use std::io::Write;
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.get(b"Filter").is_ok() || !stream.allows_compression {
            continue;
        }
        let level = if is_font_program(&stream.dict) {
            FONT_ZLIB_LEVEL
        } else {
            ZLIB_LEVEL
        };
        let mut encoder = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 2),
            flate2::Compression::new(level),
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

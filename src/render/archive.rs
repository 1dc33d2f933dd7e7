//! The registration archive (电子登记档案) as readable A4 pages: a title, then sections of
//! text lines (wrapped to the page, continued on new pages), in the body face; made PDF/A-3b
//! with files attached and PAdES-signed like the electronic licence ([`super::pades`]).

use chrono::NaiveDate;
use printpdf::{FontId, Mm, PdfDocument, PdfPage};

use super::canvas::{rgb, Canvas};
use super::pades::{sign_document, SignatureInfo, SignedPdfError};
use super::pdfa::{Attachment, Description};
use super::{issued_timestamp, text, to_lopdf, Fonts, BODY_FONT};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
const TITLE_MM: f32 = 6.0;
const HEADING_MM: f32 = 4.6;
const BODY_MM: f32 = 3.5;
const LINE: f32 = 1.55;

/// One section: a heading and its lines (each wrapped to the page width).
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub heading: String,
    pub lines: Vec<String>,
}

/// The archive's readable content.
#[derive(Debug, Clone)]
pub struct ArchiveContent<'a> {
    pub title: &'a str,
    /// The archive's date (its creation and modification date in the metadata).
    pub date: NaiveDate,
    pub sections: &'a [Section],
}

struct Pager<'f> {
    fonts: &'f Fonts,
    font: FontId,
    pages: Vec<PdfPage>,
    canvas: Canvas,
    y: f32,
}

impl Pager<'_> {
    fn new_page(&mut self) {
        let done = std::mem::replace(&mut self.canvas, Canvas::new(PAGE_H));
        self.pages
            .push(PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), done.ops));
        self.y = MARGIN;
    }

    /// One text line at `size`, wrapped; a new page when the line would not fit.
    fn line(&mut self, size: f32, text: &str) {
        let face = &self.fonts.body;
        // A character the face cannot show becomes a visible placeholder, never an empty box.
        let chars: Vec<char> = text
            .chars()
            .map(|c| if face.has_glyph(c) { c } else { '?' })
            .collect();
        let advances: Vec<f32> = chars.iter().map(|c| face.advance_em(*c)).collect();
        let width_em = (PAGE_W - 2.0 * MARGIN) / size;
        let mut ranges = text::break_lines(&chars, &advances, width_em);
        if ranges.is_empty() {
            ranges.push((0, 0));
        }
        for (a, b) in ranges {
            if self.y + size * LINE > PAGE_H - MARGIN {
                self.new_page();
            }
            self.y += size * LINE;
            let part: String = chars[a..b].iter().collect();
            self.canvas.text(
                &self.font,
                size,
                MARGIN,
                self.y,
                &part,
                rgb(0.08, 0.08, 0.1),
            );
        }
    }
}

/// The archive, signed by `sign` (see [`super::pades::render_signed`]).
pub fn render_archive<E>(
    fonts: &Fonts,
    content: &ArchiveContent,
    attachments: &[Attachment],
    signature: &SignatureInfo,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, SignedPdfError<E>> {
    let font = FontId(BODY_FONT.to_string());
    let mut p = Pager {
        fonts,
        font: font.clone(),
        pages: Vec::new(),
        canvas: Canvas::new(PAGE_H),
        y: MARGIN,
    };
    p.line(TITLE_MM, content.title);
    for section in content.sections {
        p.y += BODY_MM;
        p.line(HEADING_MM, &section.heading);
        for l in &section.lines {
            p.line(BODY_MM, l);
        }
    }
    p.new_page();

    let mut doc = PdfDocument::new(content.title);
    let info = &mut doc.metadata.info;
    info.producer = "crosscert".to_string();
    info.creator = "crosscert".to_string();
    if let Some(t) = issued_timestamp(content.date) {
        info.creation_date = t;
        info.modification_date = t;
        info.metadata_date = t;
    }
    let lo = to_lopdf(doc, p.pages, vec![(&fonts.body, font)])?;
    // The signature widget: a small square in the first page's top right corner.
    let mm = 72.0 / 25.4;
    let rect = [
        (PAGE_W - MARGIN - 12.0) * mm,
        (PAGE_H - MARGIN) * mm,
        (PAGE_W - MARGIN) * mm,
        (PAGE_H - MARGIN + 12.0) * mm,
    ];
    sign_document(
        lo,
        &Description {
            title: content.title,
            date: content.date,
        },
        attachments,
        rect,
        signature,
        sign,
    )
}

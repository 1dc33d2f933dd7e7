//! The signed electronic licence: PDF/A-3b ([`super::pdfa`]) with the COSE seal attached,
//! signed PAdES baseline B-B (ETSI EN 319 142-1): a signature field whose widget lies on the
//! red seal, a signature dictionary with `SubFilter /ETSI.CAdES.detached`, the signing time in
//! `/M`, and a `ByteRange` that covers the whole file except the `/Contents` string.
//!
//! No key here: the caller's `sign` receives the SHA-256 of the signed ranges and returns the
//! DER CMS SignedData (built and signed in `issuance::cms`).

use chrono::{DateTime, Utc};
use lopdf::{Dictionary, Object, Stream, StringFormat};

use super::pdfa::{self, Attachment, Description};
use super::{build_document, compress_streams, save, CertificateView, Fonts, RenderError};
use crate::catalog::layout::BlockRole;

/// Bytes reserved for the CMS beyond the signer's bound ([`ElectronicParts::cms_max_len`],
/// `PdfSigner::max_cms_len`). The bound is already exact for the largest signature; this
/// only absorbs a signer that grows its CMS by a few bytes without the bound knowing.
/// The reserve used to be a fixed 3,072 bytes (6 KB of hex digits, twice the example
/// signer's 1.5 KB CMS): production certificates may be larger, and the bound follows them.
pub const SIGNATURE_MARGIN: usize = 64;

/// Bytes reserved in `/Contents` (written as twice as many hex digits) for a CMS of at
/// most `cms_max_len` bytes.
pub fn signature_space(cms_max_len: usize) -> usize {
    cms_max_len + SIGNATURE_MARGIN
}

/// The placeholder `ByteRange`: four numbers, patched in place at the same width.
const BYTE_RANGE_PLACEHOLDER: &str = "[0 9999999999 9999999999 9999999999]";

const MM: f32 = 72.0 / 25.4;

/// What the electronic copy carries besides its pages.
#[derive(Debug, Clone, Copy)]
pub struct ElectronicParts<'a> {
    /// The licence's COSE_Sign1 seal, attached as `seal.cose` (relationship `Source`).
    pub seal_cose: &'a [u8],
    /// Shown by PDF readers as the signer (`/Name`).
    pub signer_name: &'a str,
    /// The signing time (`/M`).
    pub signed_at: DateTime<Utc>,
    /// The largest CMS `sign` may return (`PdfSigner::max_cms_len`): `/Contents` is sized
    /// from it.
    pub cms_max_len: usize,
}

/// Why a signed document could not be made: the renderer, or the caller's signing.
#[derive(Debug, thiserror::Error)]
pub enum SignedPdfError<E> {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("signing failed")]
    Sign(E),
}

/// The electronic licence, PDF/A-3b and PAdES-signed by `sign` (digest of the signed byte
/// ranges -> DER CMS SignedData).
pub fn render_signed<E>(
    fonts: &Fonts,
    view: &CertificateView,
    parts: &ElectronicParts,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, SignedPdfError<E>> {
    let doc = build_document(fonts, view)?;
    sign_document(
        doc,
        &Description {
            title: view.title,
            date: view.issued_on,
        },
        &[Attachment {
            name: "seal.cose",
            mime: "application/cose",
            description: "COSE_Sign1 seal of the licence (the QR code's payload)",
            relationship: "Source",
            bytes: parts.seal_cose,
            modified: parts.signed_at,
        }],
        seal_rect(view),
        &SignatureInfo {
            signer_name: parts.signer_name,
            signed_at: parts.signed_at,
            cms_max_len: parts.cms_max_len,
        },
        sign,
    )
}

/// Who signs, when, and how large their CMS may be.
#[derive(Debug, Clone, Copy)]
pub struct SignatureInfo<'a> {
    pub signer_name: &'a str,
    pub signed_at: DateTime<Utc>,
    pub cms_max_len: usize,
}

/// PDF/A-3b with `attachments`, a signature widget at `rect` on the first page, written and
/// signed.
pub(crate) fn sign_document<E>(
    mut doc: lopdf::Document,
    description: &Description,
    attachments: &[Attachment],
    rect: [f32; 4],
    signature: &SignatureInfo,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, SignedPdfError<E>> {
    let space = signature_space(signature.cms_max_len);
    pdfa::apply(&mut doc, description, attachments)?;
    add_signature_field(
        &mut doc,
        rect,
        signature.signer_name,
        signature.signed_at,
        space,
    )?;
    compress_streams(&mut doc);
    let bytes = save(&mut doc)?;
    sign_prepared(bytes, space, sign)
}

/// The seal block's square on the first page, in PDF points `[x0 y0 x1 y1]` (origin bottom
/// left); a small square in the corner when the layout has no seal block.
fn seal_rect(view: &CertificateView) -> [f32; 4] {
    let layout = view.layout;
    match layout.blocks.iter().find(|b| b.role == BlockRole::Seal) {
        Some(b) => {
            let r = b.w_mm.min(b.h_mm) / 2.0;
            let (cx, cy) = (b.x_mm + b.w_mm / 2.0, b.y_mm + b.h_mm / 2.0);
            [
                (cx - r) * MM,
                (layout.height_mm - cy - r) * MM,
                (cx + r) * MM,
                (layout.height_mm - cy + r) * MM,
            ]
        }
        None => [0.0, 0.0, 10.0 * MM, 10.0 * MM],
    }
}

fn add_signature_field(
    doc: &mut lopdf::Document,
    rect: [f32; 4],
    signer_name: &str,
    signed_at: DateTime<Utc>,
    space: usize,
) -> Result<(), RenderError> {
    let page_id = doc.page_iter().next().ok_or(RenderError::NotElectronic)?;
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set("Name", pdfa::text_string(signer_name));
    sig.set("M", Object::string_literal(pdfa::pdf_date(signed_at)));
    // Written next to each other, placeholders of fixed width: `sign_prepared` finds them.
    sig.set(
        "ByteRange",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(9_999_999_999),
            Object::Integer(9_999_999_999),
            Object::Integer(9_999_999_999),
        ]),
    );
    sig.set(
        "Contents",
        Object::String(vec![0; space], StringFormat::Hexadecimal),
    );
    let sig_id = doc.add_object(sig);

    // The widget's appearance is the seal already on the page: an empty form of its size.
    let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
    let appearance = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"XObject".to_vec())),
            ("Subtype", Object::Name(b"Form".to_vec())),
            (
                "BBox",
                Object::Array(vec![0.into(), 0.into(), w.into(), h.into()]),
            ),
            ("Resources", Object::Dictionary(Dictionary::new())),
        ]),
        Vec::new(),
    );
    let appearance_id = doc.add_object(appearance);
    let field = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Annot".to_vec())),
        ("Subtype", Object::Name(b"Widget".to_vec())),
        ("FT", Object::Name(b"Sig".to_vec())),
        ("T", Object::string_literal("Signature1")),
        ("V", Object::Reference(sig_id)),
        // Print (PDF/A: annotations are printed), locked.
        ("F", Object::Integer(4 | 128)),
        (
            "Rect",
            Object::Array(rect.iter().map(|v| Object::Real(*v)).collect()),
        ),
        ("P", Object::Reference(page_id)),
        (
            "AP",
            Object::Dictionary(Dictionary::from_iter(vec![(
                "N",
                Object::Reference(appearance_id),
            )])),
        ),
    ]);
    let field_id = doc.add_object(field);
    let page = doc
        .get_object_mut(page_id)
        .and_then(Object::as_dict_mut)
        .map_err(|_| RenderError::NotElectronic)?;
    page.set("Annots", Object::Array(vec![Object::Reference(field_id)]));
    let catalog = doc.catalog_mut().map_err(|_| RenderError::Trailer)?;
    catalog.set(
        "AcroForm",
        Dictionary::from_iter(vec![
            ("Fields", Object::Array(vec![Object::Reference(field_id)])),
            // SignaturesExist | AppendOnly
            ("SigFlags", Object::Integer(3)),
        ]),
    );
    Ok(())
}

/// Where the signature dictionary's placeholders lie in the written file.
struct Placeholders {
    /// Offset of the `ByteRange` array's `[`.
    byte_range: usize,
    /// Offset of the `<` opening `/Contents`.
    contents_open: usize,
    /// Offset just after the `>` closing it.
    contents_end: usize,
}

fn find_placeholders(bytes: &[u8], space: usize) -> Option<Placeholders> {
    let marker = format!("/ByteRange{BYTE_RANGE_PLACEHOLDER}/Contents<");
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())?;
    let byte_range = at + "/ByteRange".len();
    let contents_open = at + marker.len() - 1;
    let close = contents_open + 1 + 2 * space;
    (bytes.get(close) == Some(&b'>')).then_some(Placeholders {
        byte_range,
        contents_open,
        contents_end: close + 1,
    })
}

/// Patch the `ByteRange`, digest the ranges, have them signed and write the CMS into
/// `/Contents` (hex, zero-padded to the reserved space).
fn sign_prepared<E>(
    mut bytes: Vec<u8>,
    space: usize,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, SignedPdfError<E>> {
    let p = find_placeholders(&bytes, space).ok_or(RenderError::Trailer)?;
    let tail = bytes.len() - p.contents_end;
    let numbers = format!("[0 {} {} {}", p.contents_open, p.contents_end, tail);
    let width = BYTE_RANGE_PLACEHOLDER.len();
    if numbers.len() + 1 > width {
        return Err(RenderError::Trailer.into());
    }
    let patched = format!("{numbers:<w$}]", w = width - 1);
    bytes[p.byte_range..p.byte_range + width].copy_from_slice(patched.as_bytes());

    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&bytes[..p.contents_open]);
    ctx.update(&bytes[p.contents_end..]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ctx.finish().as_ref());

    let cms = sign(&digest).map_err(SignedPdfError::Sign)?;
    if cms.len() > space {
        return Err(RenderError::SignatureTooLarge { len: cms.len() }.into());
    }
    let hex = hex::encode_upper(&cms);
    bytes[p.contents_open + 1..p.contents_open + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_patched_at_their_width() {
        let mut doc = lopdf::Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let page_id = doc.add_object(Dictionary::from_iter(vec![
            ("Type", Object::Name(b"Page".to_vec())),
            ("Parent", Object::Reference(pages_id)),
            (
                "MediaBox",
                Object::Array(vec![0.into(), 0.into(), 100.into(), 100.into()]),
            ),
        ]));
        doc.objects.insert(
            pages_id,
            Object::Dictionary(Dictionary::from_iter(vec![
                ("Type", Object::Name(b"Pages".to_vec())),
                ("Kids", Object::Array(vec![Object::Reference(page_id)])),
                ("Count", Object::Integer(1)),
            ])),
        );
        let catalog_id = doc.add_object(Dictionary::from_iter(vec![
            ("Type", Object::Name(b"Catalog".to_vec())),
            ("Pages", Object::Reference(pages_id)),
        ]));
        doc.trailer.set("Root", Object::Reference(catalog_id));
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        add_signature_field(&mut doc, [1.0, 2.0, 30.0, 40.0], "签名者 test", at, 100).unwrap();
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let len = bytes.len();
        let mut seen = None;
        let signed = sign_prepared::<()>(bytes, 100, |d| {
            seen = Some(*d);
            Ok(vec![0xab; 10])
        })
        .unwrap();
        assert_eq!(signed.len(), len);
        let p = find_placeholders(&signed, 100);
        assert!(p.is_none(), "the placeholder is gone");
        let text = String::from_utf8_lossy(&signed);
        let at = text.find("/ByteRange[0 ").unwrap();
        let numbers: Vec<usize> = text[at + 11..]
            .split(']')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(numbers[0], 0);
        assert_eq!(signed[numbers[1]], b'<');
        assert_eq!(signed[numbers[2] - 1], b'>');
        assert_eq!(numbers[2] + numbers[3], len);
        assert!(text.contains("/Contents<ABABABABABABABABABAB0000"));
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&signed[..numbers[1]]);
        ctx.update(&signed[numbers[2]..]);
        assert_eq!(seen.unwrap().as_slice(), ctx.finish().as_ref());
        // The reloaded document sees the dictionary with the patched numbers.
        let reloaded = lopdf::Document::load_mem(&signed).unwrap();
        assert!(reloaded
            .objects
            .values()
            .any(|o| o.as_dict().is_ok_and(|d| d
                .get(b"SubFilter")
                .and_then(Object::as_name)
                .ok()
                == Some(b"ETSI.CAdES.detached".as_slice()))));
    }

    #[test]
    fn print_documents_stay_unsigned_and_the_electronic_copy_is_signed() {
        let Some(fonts) = crate::render::tests::fonts() else {
            return;
        };
        let sample = crate::render::samples::Sample::business_licence();
        let copies = [crate::domain::copy::CopyKind::Original];
        let print = CertificateView {
            copies: &copies,
            serials: None,
            ..sample.view(crate::render::RenderMode::Print)
        };
        let unsigned = crate::render::render_pdf(fonts, &print).unwrap();
        let text = String::from_utf8_lossy(&unsigned);
        for absent in ["/ByteRange", "/AcroForm", "/EmbeddedFile", "pdfaid"] {
            assert!(!text.contains(absent), "print document has {absent}");
        }
        let electronic = CertificateView {
            copies: &copies,
            serials: None,
            ..sample.view(crate::render::RenderMode::Electronic)
        };
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let parts = ElectronicParts {
            seal_cose: b"cose",
            signer_name: "test",
            signed_at: at,
            cms_max_len: 2,
        };
        let signed =
            render_signed::<()>(fonts, &electronic, &parts, |_| Ok(vec![0x30, 0])).unwrap();
        let text = String::from_utf8_lossy(&signed);
        for present in [
            "/ByteRange[0 ",
            "/ETSI.CAdES.detached",
            "/AFRelationship/Source",
            "pdfaid:part",
        ] {
            assert!(text.contains(present), "electronic copy lacks {present}");
        }
    }

    #[test]
    fn too_large_a_signature_is_refused() {
        let mut doc = lopdf::Document::with_version("1.7");
        let sig = Dictionary::from_iter(vec![
            (
                "ByteRange",
                Object::Array(vec![
                    Object::Integer(0),
                    Object::Integer(9_999_999_999),
                    Object::Integer(9_999_999_999),
                    Object::Integer(9_999_999_999),
                ]),
            ),
            (
                "Contents",
                Object::String(vec![0; 100], StringFormat::Hexadecimal),
            ),
        ]);
        doc.add_object(sig);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let err = sign_prepared::<()>(bytes, 100, |_| Ok(vec![1; 101])).unwrap_err();
        assert!(matches!(
            err,
            SignedPdfError::Render(RenderError::SignatureTooLarge { .. })
        ));
    }
}

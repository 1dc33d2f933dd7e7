//! From a licence (or a specimen record) and its catalog type to the renderer's view: labels,
//! formatted values, validity text, copies. One place, so the electronic copy, the print-job
//! document and the specimen show the same certificate.

use crate::catalog::cert_type::{FieldKind, HolderKind};
use crate::catalog::{Catalog, CertType};
use crate::domain::copy::CopyKind;
use crate::render::{self, CertificateView, Fonts, PageGeometry, RenderError, RenderMode};
use chrono::NaiveDate;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the certificate type {0} is not in the catalog")]
    UnknownType(String),
    #[error("the layout {0} is not in the catalog")]
    UnknownLayout(String),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// What a certificate page needs, borrowed from a licence row or a specimen.
pub struct CertificateData<'a> {
    pub type_code: &'a str,
    pub holder_name: &'a str,
    pub holder_code: &'a str,
    pub fields: &'a BTreeMap<String, String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub authority_name: &'a str,
    pub issued_on: NaiveDate,
    pub licence_no: &'a str,
    pub identifier: &'a str,
    pub qr_text: &'a str,
}

pub fn chinese_date(d: NaiveDate) -> String {
    d.format("%Y年%m月%d日").to_string()
}

pub fn validity_text(from: NaiveDate, to: Option<NaiveDate>) -> String {
    match to {
        Some(to) => format!("{}至{}", chinese_date(from), chinese_date(to)),
        None => format!("{}至长期", chinese_date(from)),
    }
}

/// `5000000` -> `5,000,000.00`
fn money(value: &str) -> String {
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:0<2}", frac)
}

fn display_value(kind: FieldKind, value: &str) -> String {
    match kind {
        FieldKind::Date => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(chinese_date)
            .unwrap_or_else(|_| value.to_string()),
        FieldKind::Money => money(value),
        _ => value.to_string(),
    }
}

fn holder_labels(t: &CertType) -> (&'static str, &'static str) {
    match t.holder_kind {
        HolderKind::Organisation => ("名称", "统一社会信用代码"),
        HolderKind::Person => ("姓名", "公民身份号码"),
    }
}

/// Render a certificate: one page per copy, in the given mode.
pub fn render_certificate(
    fonts: &Fonts,
    catalog: &Catalog,
    data: &CertificateData<'_>,
    copies: &[CopyKind],
    serials: Option<&[String]>,
    mode: RenderMode,
) -> Result<Vec<u8>, DocumentError> {
    with_view(catalog, data, copies, serials, mode, |view| {
        render::render_pdf(fonts, view)
    })
}

/// The electronic copy (one original page), PDF/A-3b with the seal attached and
/// PAdES-signed by `sign` (see [`render::pades`]). The outer error is the document's, the
/// inner one the signing's.
pub fn render_electronic<E>(
    fonts: &Fonts,
    catalog: &Catalog,
    data: &CertificateData<'_>,
    parts: &render::pades::ElectronicParts<'_>,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, E>,
) -> Result<Result<Vec<u8>, E>, DocumentError> {
    let copies = [CopyKind::Original];
    with_view(
        catalog,
        data,
        &copies,
        None,
        RenderMode::Electronic,
        |view| match render::pades::render_signed(fonts, view, parts, sign) {
            Ok(pdf) => Ok(Ok(pdf)),
            Err(render::pades::SignedPdfError::Sign(e)) => Ok(Err(e)),
            Err(render::pades::SignedPdfError::Render(e)) => Err(e),
        },
    )
}

/// Where [`render_certificate`] would place everything on each page (see
/// [`render::geometry`]), without writing the PDF.
pub fn certificate_geometry(
    fonts: &Fonts,
    catalog: &Catalog,
    data: &CertificateData<'_>,
    copies: &[CopyKind],
    serials: Option<&[String]>,
    mode: RenderMode,
) -> Result<Vec<PageGeometry>, DocumentError> {
    with_view(catalog, data, copies, serials, mode, |view| {
        render::page_geometry(fonts, view)
    })
}

/// The renderer's view of a certificate, handed to `f`.
fn with_view<T>(
    catalog: &Catalog,
    data: &CertificateData<'_>,
    copies: &[CopyKind],
    serials: Option<&[String]>,
    mode: RenderMode,
    f: impl FnOnce(&CertificateView) -> Result<T, RenderError>,
) -> Result<T, DocumentError> {
    let t = catalog
        .get(data.type_code)
        .ok_or_else(|| DocumentError::UnknownType(data.type_code.to_string()))?;
    let layout = catalog
        .layout(&t.layout)
        .ok_or_else(|| DocumentError::UnknownLayout(t.layout.clone()))?;
    let short: Vec<(&str, String)> = t
        .short_fields()
        .filter_map(|f| {
            data.fields
                .get(&f.key)
                .filter(|v| !v.is_empty())
                .map(|v| (f.label.as_str(), display_value(f.kind, v)))
        })
        .collect();
    let long: Vec<(&str, String)> = t
        .long_fields()
        .filter_map(|f| {
            data.fields
                .get(&f.key)
                .filter(|v| !v.is_empty())
                .map(|v| (f.label.as_str(), v.clone()))
        })
        .collect();
    let short_refs: Vec<(&str, &str)> = short.iter().map(|(l, v)| (*l, v.as_str())).collect();
    let long_refs: Vec<(&str, &str)> = long.iter().map(|(l, v)| (*l, v.as_str())).collect();
    let validity = validity_text(data.valid_from, data.valid_to);
    let (name_label, code_label) = holder_labels(t);
    let view = CertificateView {
        layout,
        title: &t.name,
        title_en: &t.name_en,
        holder_name_label: name_label,
        holder_name: data.holder_name,
        holder_code_label: code_label,
        holder_code: data.holder_code,
        fields: &short_refs,
        long_texts: &long_refs,
        validity: &validity,
        authority_name: data.authority_name,
        issued_on: data.issued_on,
        licence_no: data.licence_no,
        identifier: data.identifier,
        qr_text: data.qr_text,
        copies,
        serials,
        mode,
    };
    Ok(f(&view)?)
}

/// A specimen (样本) of a type from a validated example-shaped record: placeholder number and
/// identifier, a dummy QR; it can never pass for an original.
pub fn render_specimen(
    fonts: &Fonts,
    catalog: &Catalog,
    t: &CertType,
    record: &crate::catalog::record::ValidRecord,
    authority_name: &str,
    today: NaiveDate,
) -> Result<Vec<u8>, DocumentError> {
    let licence_no = t.number.format(0).unwrap_or_default();
    let identifier =
        crate::domain::codes::Identifier::new(&t.code, "000000000000000000", 0, 1).to_string();
    let holder_code = record.holder_code.as_str().to_string();
    let data = CertificateData {
        type_code: &t.code,
        holder_name: &record.holder_name,
        holder_code: &holder_code,
        fields: &record.fields,
        valid_from: record.valid_from,
        valid_to: record.valid_to,
        authority_name,
        issued_on: today,
        licence_no: &licence_no,
        identifier: &identifier,
        qr_text: render::SPECIMEN_QR_TEXT,
    };
    render_certificate(fonts, catalog, &data, &t.copies, None, RenderMode::Specimen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_with_two_decimals() {
        assert_eq!(money("5000000"), "5,000,000.00");
        assert_eq!(money("1200.5"), "1,200.50");
        assert_eq!(money("12"), "12.00");
    }

    #[test]
    fn validity_reads_like_the_paper() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            validity_text(d("2024-05-20"), Some(d("2029-05-19"))),
            "2024年05月20日至2029年05月19日"
        );
        assert_eq!(validity_text(d("2024-05-20"), None), "2024年05月20日至长期");
    }
}

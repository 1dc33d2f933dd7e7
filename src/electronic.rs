//! The electronic licence file (电子证照) as the holder and relying parties receive it: the
//! licence's page in PDF/A-3b with its COSE seal attached as `seal.cose`, PAdES-signed by
//! the active licence signer at the moment of download. Print documents for security stock
//! do not come here: they stay unsigned (`registration::render_licence`).

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::issuance::Sealer;
use crate::registration::RegistrationError;
use crate::render::pades::ElectronicParts;
use crate::render::Fonts;
use crate::storage::licences::LicenceRow;
use crate::storage::{halls, DbConnection, StorageError};

/// Everything the electronic licence needs besides the database and the row.
pub struct ElectronicContext<'a> {
    pub fonts: &'a Fonts,
    pub catalog: &'a Catalog,
    pub sealer: &'a Sealer,
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
}

/// The signed electronic licence of `row`.
pub fn licence_pdf(
    conn: &mut DbConnection,
    ctx: &ElectronicContext<'_>,
    row: &LicenceRow,
) -> Result<Vec<u8>, RegistrationError> {
    let hall = halls::get_hall(conn, &row.issuing_hall)?;
    let authority = hall.authority.map(|a| a.name).unwrap_or(hall.name);
    signed_pdf(ctx, row, &authority)
}

/// As [`licence_pdf`], with the issuing authority's name already known (no database).
pub fn signed_pdf(
    ctx: &ElectronicContext<'_>,
    row: &LicenceRow,
    authority: &str,
) -> Result<Vec<u8>, RegistrationError> {
    let fields: std::collections::BTreeMap<String, String> = serde_json::from_str(&row.fields)
        .map_err(|e| {
            RegistrationError::Storage(StorageError::Migration(format!(
                "licence {} fields: {e}",
                row.id
            )))
        })?;
    let qr = crate::verification::qr_text(ctx.public_url, &row.cose);
    let data = crate::documents::CertificateData {
        type_code: &row.type_code,
        holder_name: &row.holder_name,
        holder_code: &row.holder_code,
        fields: &fields,
        valid_from: row.valid_from,
        valid_to: row.valid_to,
        authority_name: authority,
        issued_on: row.issued_at.date(),
        licence_no: &row.licence_no,
        identifier: &row.identifier,
        qr_text: &qr,
    };
    let signer = ctx.sealer.pdf_signer(ctx.now)?;
    let parts = ElectronicParts {
        seal_cose: &row.cose,
        signer_name: signer.name(),
        signed_at: ctx.now,
    };
    let signed = crate::documents::render_electronic(ctx.fonts, ctx.catalog, &data, &parts, |d| {
        signer.sign_digest(d)
    })
    .map_err(RegistrationError::Document)?;
    Ok(signed?)
}

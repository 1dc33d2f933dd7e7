//! The electronic licence file (电子证照) as the holder and relying parties receive it: the
//! licence's page in PDF/A-3b with its COSE seal attached as `seal.cose`, PAdES-signed by
//! the active licence signer at the moment of download. Print documents for security stock
//! do not come here: they stay unsigned (`registration::render_licence`).

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::issuance::Sealer;
use crate::registration::{self, RegistrationError};
use crate::render::pades::ElectronicParts;
use crate::render::Fonts;
use crate::storage::licences::LicenceRow;
use crate::storage::DbConnection;

/// Everything the electronic licence needs besides the database and the row.
pub struct ElectronicContext<'a> {
    pub fonts: &'a Fonts,
    pub catalog: &'a Catalog,
    pub sealer: &'a Sealer,
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
}

/// The electronic licence of licence `id` as the staff member may download it: the signed
/// file and its file name (`licence-<number>.pdf`, the number in ASCII letters and digits).
pub fn licence_download(
    conn: &mut DbConnection,
    ctx: &ElectronicContext<'_>,
    staff: &crate::accounts::Staff,
    id: &str,
) -> Result<(Vec<u8>, String), RegistrationError> {
    let row = registration::get_licence(conn, staff, id)?;
    let pdf = licence_pdf(conn, ctx, &row)?;
    let name = format!(
        "licence-{}.pdf",
        row.licence_no
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    Ok((pdf, name))
}

/// The signed electronic licence of `row`.
pub fn licence_pdf(
    conn: &mut DbConnection,
    ctx: &ElectronicContext<'_>,
    row: &LicenceRow,
) -> Result<Vec<u8>, RegistrationError> {
    let authority = registration::issuing_authority(conn, row)?;
    signed_pdf(ctx, row, &authority)
}

/// As [`licence_pdf`], with the issuing authority's name already known (no database).
pub fn signed_pdf(
    ctx: &ElectronicContext<'_>,
    row: &LicenceRow,
    authority: &str,
) -> Result<Vec<u8>, RegistrationError> {
    let fields = registration::stored_fields(row)?;
    let qr = crate::verification::qr_text(ctx.public_url, &row.cose);
    let data = registration::certificate_data(row, &fields, authority, &qr);
    let signer = ctx.sealer.pdf_signer(ctx.now)?;
    let parts = ElectronicParts {
        seal_cose: &row.cose,
        signer_name: signer.name(),
        signed_at: ctx.now,
        cms_max_len: signer.max_cms_len()?,
    };
    let signed = crate::documents::render_electronic(ctx.fonts, ctx.catalog, &data, &parts, |d| {
        signer.sign_digest(d)
    })
    .map_err(RegistrationError::Document)?;
    Ok(signed?)
}

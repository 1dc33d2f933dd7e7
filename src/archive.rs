//! The registration archive (电子登记档案) of a licence: a signed PDF/A-3 whose readable pages
//! hold the register record, every version, every status change with who and when (from the
//! audit log), and the print jobs with their sheets; the signed electronic licence PDF of
//! each version is attached (relationship `Source`). Issuers of the issuing hall and
//! administrators only; each archive made is audited (`LicenceArchiveExported`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use crate::accounts::Staff;
use crate::domain::job::JobState;
use crate::domain::role::Role;
use crate::electronic::{signed_pdf, ElectronicContext};
use crate::registration::{self, RegistrationError};
use crate::render::archive::{render_archive, ArchiveContent, Section};
use crate::render::pades::{SignatureInfo, SignedPdfError};
use crate::render::pdfa::Attachment;
use crate::storage::licences::LicenceRow;
use crate::storage::{audit, jobs, stock, DbConnection};

fn time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn record_lines(row: &LicenceRow, type_name: &str, authority: &str) -> Vec<String> {
    let mut lines = vec![
        format!("证照类型：{type_name}（{}）", row.type_code),
        format!("证照编号：{}", row.licence_no),
        format!("证照标识：{}", row.identifier),
        format!("持证主体：{}", row.holder_name),
        format!("主体代码：{}", row.holder_code),
        format!(
            "有效期：{} 至 {}",
            row.valid_from,
            row.valid_to
                .map(|d| d.to_string())
                .unwrap_or_else(|| "长期".to_string())
        ),
        format!("发证机关：{authority}"),
        format!("发证大厅：{}", row.issuing_hall),
        format!("状态：{}", row.status),
    ];
    if let Ok(fields) =
        serde_json::from_str::<std::collections::BTreeMap<String, String>>(&row.fields)
    {
        for (k, v) in fields {
            lines.push(format!("{k}：{v}"));
        }
    }
    lines
}

/// The archive of the licence `id` (any of its versions names the whole register entry).
pub fn licence_archive(
    conn: &mut DbConnection,
    ctx: &ElectronicContext<'_>,
    staff: &Staff,
    id: &str,
) -> Result<Vec<u8>, RegistrationError> {
    let row = registration::get_licence(conn, staff, id)?;
    if !(staff.role == Role::Admin || staff.role == Role::Issuer) {
        return Err(RegistrationError::Forbidden(
            "only issuers of the issuing hall and administrators may export the archive".into(),
        ));
    }
    let authority = registration::issuing_authority(conn, &row)?;
    let versions = registration::versions_of(conn, &row)?;
    let type_name = ctx
        .catalog
        .get(&row.type_code)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let current = versions.last().unwrap_or(&row);

    let mut sections = vec![Section {
        heading: "一、登记信息（现行版本）".into(),
        lines: record_lines(current, &type_name, &authority),
    }];
    let mut history = Vec::new();
    let mut printing = Vec::new();
    let states = JobState::ALL;
    for v in &versions {
        history.push(format!(
            "第{}版 {}：{} 由 {} 签发；状态 {}{}",
            v.version,
            v.identifier,
            time(v.issued_at),
            v.issued_by,
            v.status.label_zh(),
            v.status_reason
                .as_ref()
                .map(|r| format!("（{r}）"))
                .unwrap_or_default()
        ));
        for e in audit::list_events_for(conn, &format!("licence:{}", v.id))? {
            history.push(format!(
                "  {} {} {} {}",
                time(e.at),
                e.actor,
                e.action,
                e.details
            ));
        }
        for job in jobs::list_for_licence(conn, &v.id, &states)? {
            printing.push(format!(
                "第{}版 打印任务 {}：大厅 {}，状态 {}，份数 {}，创建 {} 由 {}{}",
                v.version,
                job.id,
                job.hall,
                job.state.label_zh(),
                job.copies,
                time(job.created_at),
                job.created_by,
                job.printed_at
                    .map(|t| format!("，打印于 {}", time(t)))
                    .unwrap_or_default()
            ));
            for sheet in stock::list_sheets_for_job(conn, &job.id)? {
                printing.push(format!(
                    "  纸张 {}：{}{}，{}",
                    sheet.serial,
                    match sheet.state {
                        crate::domain::stock::SheetState::Printed => "已打印",
                        crate::domain::stock::SheetState::Voided => "已作废",
                    },
                    sheet
                        .copy
                        .map(|c| format!("（{}）", c.label_zh()))
                        .unwrap_or_default(),
                    time(sheet.at)
                ));
            }
        }
    }
    if printing.is_empty() {
        printing.push("无打印任务".into());
    }
    sections.push(Section {
        heading: "二、版本与状态变更".into(),
        lines: history,
    });
    sections.push(Section {
        heading: "三、打印任务与纸张".into(),
        lines: printing,
    });
    sections.push(Section {
        heading: "四、附件".into(),
        lines: versions
            .iter()
            .map(|v| {
                format!(
                    "licence-v{}.pdf：第{}版电子证照（已签名）",
                    v.version, v.version
                )
            })
            .collect(),
    });

    let pdfs = versions
        .iter()
        .map(|v| signed_pdf(ctx, v, &authority))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = versions
        .iter()
        .map(|v| format!("licence-v{}.pdf", v.version))
        .collect();
    let attachments: Vec<Attachment> = versions
        .iter()
        .zip(&pdfs)
        .zip(&names)
        .map(|((_, pdf), name)| Attachment {
            name,
            mime: "application/pdf",
            description: "signed electronic licence of this version",
            relationship: "Source",
            bytes: pdf,
            modified: ctx.now,
        })
        .collect();
    let title = format!("电子登记档案 {}", current.licence_no);
    let signer = ctx.sealer.pdf_signer(ctx.now)?;
    let content = ArchiveContent {
        title: &title,
        date: ctx.now.date_naive(),
        sections: &sections,
    };
    let pdf = render_archive(
        ctx.fonts,
        &content,
        &attachments,
        &SignatureInfo {
            signer_name: signer.name(),
            signed_at: ctx.now,
            cms_max_len: signer.max_cms_len()?,
        },
        |d| signer.sign_digest(d),
    )
    .map_err(|e| match e {
        SignedPdfError::Render(r) => {
            RegistrationError::Document(crate::documents::DocumentError::Render(r))
        }
        SignedPdfError::Sign(s) => s.into(),
    })?;
    audit::insert_event(
        conn,
        ctx.now,
        &staff.username,
        "LicenceArchiveExported",
        &format!("licence:{}", row.id),
        json!({"versions": versions.len(), "bytes": pdf.len()}),
    )?;
    Ok(pdf)
}

/// When the archive was made, for its file name.
pub fn stamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%d%H%M%S").to_string()
}

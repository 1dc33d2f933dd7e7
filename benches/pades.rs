//! The cost of signing the electronic licence (issue 23): the business-licence sample as a
//! print document (unsigned, as print jobs keep it) against the same page as the electronic
//! licence (PDF/A-3b, seal attached, PAdES-signed by a file key). The difference is what a
//! download pays for the signature; print jobs do not pay it.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use crosscert::domain::copy::CopyKind;
use crosscert::domain::seal::SealClaims;
use crosscert::issuance::{generate_example_set, KeySet, Sealer};
use crosscert::render::pades::{render_signed, ElectronicParts};
use crosscert::render::samples::Sample;
use crosscert::render::{render_pdf, CertificateView, Fonts, RenderMode};

fn fonts() -> Option<Fonts> {
    let dir = std::env::var_os("CROSSCERT_FONT_DIR");
    match Fonts::load(dir.as_deref().map(Path::new)) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("skipping the PAdES bench: {e}");
            None
        }
    }
}

fn bench(c: &mut Criterion) {
    let Some(fonts) = fonts() else { return };
    let now = Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    generate_example_set(dir.path(), now).expect("example set");
    let keys = Arc::new(KeySet::load(dir.path()).expect("key set"));
    let sealer = Sealer::new(keys);
    let claims = SealClaims {
        iss: "11220000013544541J".into(),
        iat: now.timestamp(),
        exp: None,
        identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F".into(),
        licence_no: "JY13701020000123".into(),
        holder_name: "临沂某某新材料科技股份有限公司".into(),
        holder_code_masked: "91350100M000100Y43".into(),
        status: None,
    };
    let cose = sealer.seal(&claims, now).expect("seal");
    let sample = Sample::business_licence();
    let print = CertificateView {
        copies: &[CopyKind::Original],
        serials: None,
        ..sample.view(RenderMode::Print)
    };
    let electronic = CertificateView {
        copies: &[CopyKind::Original],
        serials: None,
        ..sample.view(RenderMode::Electronic)
    };
    let signer = sealer.pdf_signer(now).expect("signer");
    let parts = ElectronicParts {
        seal_cose: &cose,
        signer_name: signer.name(),
        signed_at: now,
        cms_max_len: signer.max_cms_len().expect("CMS bound"),
    };
    let sign = || render_signed(&fonts, &electronic, &parts, |d| signer.sign_digest(d));
    let unsigned = render_pdf(&fonts, &print).expect("print render");
    let signed = sign().expect("signed render");
    eprintln!(
        "business licence page: print {} bytes, signed electronic {} bytes",
        unsigned.len(),
        signed.len()
    );
    c.bench_function("print document (unsigned)", |b| {
        b.iter(|| render_pdf(&fonts, &print))
    });
    c.bench_function("electronic licence (PDF/A-3b + PAdES)", |b| b.iter(sign));
    let digest = [7u8; 32];
    c.bench_function("CMS signature alone (file key)", |b| {
        b.iter(|| signer.sign_digest(&digest))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! One business-licence page (971-character business scope, QR and seal), rendered to PDF
//! bytes: the cost a print job pays once when it is queued.

use criterion::{criterion_group, criterion_main, Criterion};
use crosscert::domain::copy::CopyKind;
use crosscert::render::samples::Sample;
use crosscert::render::{render_pdf, CertificateView, Fonts, RenderMode};

fn business_licence_page(c: &mut Criterion) {
    let fonts = match Fonts::load(
        std::env::var_os("CROSSCERT_FONT_DIR")
            .as_deref()
            .map(std::path::Path::new),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("skipping the render bench: {e}");
            return;
        }
    };
    let sample = Sample::business_licence();
    let serial = vec!["LY260000123".to_string()];
    let view = CertificateView {
        copies: &[CopyKind::Original],
        serials: Some(&serial),
        ..sample.view(RenderMode::Print)
    };
    match render_pdf(&fonts, &view) {
        Ok(bytes) => eprintln!("business licence, one page: {} bytes", bytes.len()),
        Err(e) => {
            eprintln!("render failed: {e}");
            return;
        }
    }
    c.bench_function("render business licence page", |b| {
        b.iter(|| render_pdf(&fonts, &view))
    });
}

criterion_group!(benches, business_licence_page);
criterion_main!(benches);

//! One business-licence page (971-character business scope, QR and seal), rendered to PDF
//! bytes: the cost a print job pays once when it is queued. Then a sweep over every catalog
//! type's example (the electronic licence, one page, and the specimen with all its copies),
//! reporting the slowest type and the largest PDF, and a criterion run of the slowest type.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use crosscert::catalog::Catalog;
use crosscert::documents::{render_certificate, render_specimen, CertificateData};
use crosscert::domain::copy::CopyKind;
use crosscert::render::samples::Sample;
use crosscert::render::{render_pdf, CertificateView, Fonts, RenderMode};

fn fonts() -> Option<Fonts> {
    let dir = std::env::var_os("CROSSCERT_FONT_DIR");
    match Fonts::load(dir.as_deref().map(Path::new)) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("skipping the render bench: {e}");
            None
        }
    }
}

fn business_licence_page(c: &mut Criterion) {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    let serial = vec!["LY260000123".to_string()];
    let view = CertificateView {
        copies: &[CopyKind::Original],
        serials: Some(&serial),
        ..sample.view(RenderMode::Print)
    };
    match render_pdf(&fonts, &view) {
        Ok(bytes) => eprintln!("business licence sample, one page: {} bytes", bytes.len()),
        Err(e) => {
            eprintln!("render failed: {e}");
            return;
        }
    }
    c.bench_function("render business licence page", |b| {
        b.iter(|| render_pdf(&fonts, &view))
    });
}

/// The electronic licence of a type's example, as `GET /licences/{id}/pdf` renders it.
struct Licence {
    code: String,
    holder_name: String,
    holder_code: String,
    fields: BTreeMap<String, String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    licence_no: String,
}

impl Licence {
    fn render(&self, fonts: &Fonts, catalog: &Catalog) -> Vec<u8> {
        let data = CertificateData {
            type_code: &self.code,
            holder_name: &self.holder_name,
            holder_code: &self.holder_code,
            fields: &self.fields,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            authority_name: "兰山区行政审批服务局",
            issued_on: self.valid_from,
            licence_no: &self.licence_no,
            identifier: "1137130000400001-001-000000000001-V1",
            qr_text: "https://verify.example.cn/v1/CC1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        };
        render_certificate(
            fonts,
            catalog,
            &data,
            &[CopyKind::Original],
            None,
            RenderMode::Electronic,
        )
        .unwrap_or_else(|e| panic!("type {}: {e}", self.code))
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn every_type(c: &mut Criterion) {
    let Some(fonts) = fonts() else { return };
    let dir = std::env::var_os("CROSSCERT_TEMPLATES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-certs"));
    let catalog = match Catalog::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipping the catalog sweep: {e}");
            return;
        }
    };
    let today = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
    let mut licences = Vec::new();
    let (mut slowest, mut largest, mut largest_specimen) = (
        None::<(Duration, String)>,
        (0, String::new()),
        (0, String::new()),
    );
    let mut total = Duration::ZERO;
    for t in catalog.types() {
        let record = t
            .validate(&t.example_json())
            .unwrap_or_else(|e| panic!("type {}: example invalid: {e:?}", t.code));
        let licence = Licence {
            code: t.code.clone(),
            holder_name: record.holder_name.clone(),
            holder_code: record.holder_code.as_str().to_string(),
            fields: record.fields.clone(),
            valid_from: record.valid_from,
            valid_to: record.valid_to,
            licence_no: t.number.format(123).unwrap_or_default(),
        };
        let bytes = licence.render(&fonts, &catalog);
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(licence.render(&fonts, &catalog));
                start.elapsed()
            })
            .collect();
        let time = median(times);
        total += time;
        if slowest.as_ref().is_none_or(|(d, _)| time > *d) {
            slowest = Some((time, t.code.clone()));
        }
        if bytes.len() > largest.0 {
            largest = (bytes.len(), t.code.clone());
        }
        let specimen = render_specimen(&fonts, &catalog, t, &record, "发证机关（样本）", today)
            .unwrap_or_else(|e| panic!("type {} specimen: {e}", t.code));
        if specimen.len() > largest_specimen.0 {
            largest_specimen = (specimen.len(), t.code.clone());
        }
        licences.push(licence);
    }
    let Some((slow_time, slow_code)) = slowest else {
        return;
    };
    eprintln!(
        "{} types: mean {:.2} ms, slowest {slow_code} {:.2} ms; largest electronic licence \
         {} ({} bytes); largest specimen (all copies) {} ({} bytes)",
        licences.len(),
        total.as_secs_f64() * 1e3 / licences.len() as f64,
        slow_time.as_secs_f64() * 1e3,
        largest.1,
        largest.0,
        largest_specimen.1,
        largest_specimen.0,
    );
    if let Some(licence) = licences.iter().find(|l| l.code == slow_code) {
        c.bench_function(&format!("render slowest type ({slow_code})"), |b| {
            b.iter(|| licence.render(&fonts, &catalog))
        });
    }
}

criterion_group!(benches, business_licence_page, every_type);
criterion_main!(benches);

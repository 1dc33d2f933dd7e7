//! End-to-end checks of rendered certificates: poppler reads the text back, zbar reads the QR
//! back from a 200 dpi raster, and the word boxes must stay inside their blocks. Tests skip
//! (with a printed note) when the CJK fonts or the poppler / zbar tools are not installed:
//! `scripts/install-deps.sh` installs them.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::samples::Sample;
use super::*;
use crate::catalog::layout::BlockRole;

pub(super) fn fonts() -> Option<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| match Fonts::load(None) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("SKIPPED: {e}");
                None
            }
        })
        .as_ref()
}

pub(super) fn tools(names: &[&str]) -> bool {
    for name in names {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("SKIPPED: `{name}` is not installed (scripts/install-deps.sh installs it)");
            return false;
        }
    }
    true
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn pdftotext(pdf: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new("pdftotext");
    cmd.args(extra).arg(pdf).arg("-");
    run(&mut cmd)
}

/// Rasterise page `page` at 200 dpi and read its QR code.
fn read_qr(dir: &Path, pdf: &Path, page: usize) -> String {
    let prefix = dir.join(format!("page{page}"));
    let p = page.to_string();
    run(Command::new("pdftoppm")
        .args(["-r", "200", "-png", "-singlefile", "-f", &p, "-l", &p])
        .arg(pdf)
        .arg(&prefix));
    let png = prefix.with_extension("png");
    run(Command::new("zbarimg").args(["--raw", "-q"]).arg(&png))
        .trim_end_matches('\n')
        .to_string()
}

fn write_pdf(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write pdf");
    path
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn business_licence_reads_back_text_and_qr_on_every_page() {
    let (Some(fonts), true) = (fonts(), tools(&["pdftotext", "pdftoppm", "zbarimg"])) else {
        return;
    };
    let sample = Sample::business_licence();
    let view = sample.view(RenderMode::Print);
    let bytes = render_pdf(fonts, &view).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_pdf(dir.path(), "licence.pdf", &bytes);

    let text = pdftotext(&pdf, &[]);
    assert!(
        text.contains(sample.holder_name),
        "holder name missing:\n{text}"
    );
    assert!(text.contains(sample.licence_no), "licence number missing");
    assert!(text.contains(sample.holder_code));
    assert!(text.contains("2026年11月28日"), "date of issue missing");
    assert!(text.contains(sample.authority_name));
    assert!(text.contains("LY260000123") && text.contains("LY260000124"));
    // The whole 971-character business scope is there, in order, not cut.
    let raw = squash(&pdftotext(&pdf, &["-raw"]));
    assert!(samples::LONG_SCOPE.chars().count() >= 800);
    assert!(
        raw.contains(&squash(samples::LONG_SCOPE)),
        "scope cut or garbled"
    );
    assert!(!raw.contains('…'));
    for page in 1..=2 {
        assert_eq!(
            read_qr(dir.path(), &pdf, page),
            sample.qr_text,
            "page {page}"
        );
    }
}

/// The hall agent's check (`agent::document_qr`) reads the code back from the vectors:
/// the QR's `re` runs in module units, the frame drawn from a form XObject.
#[test]
fn the_agent_reads_the_qr_back_from_every_page_of_a_render() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    let bytes = render_pdf(fonts, &sample.view(RenderMode::Print)).expect("render");
    let texts = crate::agent::document_qr::qr_texts(&bytes).expect("agent reads the codes");
    assert_eq!(texts, vec![sample.qr_text.to_string(); 2]);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("/Subtype/Form"),
        "the frame is a form XObject"
    );
}

#[test]
fn permit_reads_back_text_and_qr() {
    let (Some(fonts), true) = (fonts(), tools(&["pdftotext", "pdftoppm", "zbarimg"])) else {
        return;
    };
    let sample = Sample::permit();
    let bytes = render_pdf(fonts, &sample.view(RenderMode::Electronic)).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_pdf(dir.path(), "permit.pdf", &bytes);
    let text = pdftotext(&pdf, &[]);
    assert!(text.contains(sample.holder_name));
    assert!(text.contains(sample.licence_no));
    assert!(text.contains("电子证照"), "electronic marking missing");
    assert!(
        !text.contains("LY260000125"),
        "no serial outside print mode"
    );
    assert_eq!(read_qr(dir.path(), &pdf, 1), sample.qr_text);
}

#[test]
fn specimen_is_watermarked_and_its_qr_says_so() {
    let (Some(fonts), true) = (fonts(), tools(&["pdftotext", "pdftoppm", "zbarimg"])) else {
        return;
    };
    let sample = Sample::business_licence();
    let bytes = render_pdf(fonts, &sample.view(RenderMode::Specimen)).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_pdf(dir.path(), "specimen.pdf", &bytes);
    let text = pdftotext(&pdf, &[]);
    assert!(
        text.matches("样本").count() >= 2,
        "watermark missing:\n{text}"
    );
    assert!(text.contains("SPECIMEN"));
    assert_eq!(read_qr(dir.path(), &pdf, 1), SPECIMEN_QR_TEXT);
    assert_eq!(read_qr(dir.path(), &pdf, 2), SPECIMEN_QR_TEXT);
}

/// Word boxes as pdftotext -bbox reports them: (page, xMin, yMin, xMax, yMax, word), in pt
/// from the top-left.
pub(super) fn word_boxes(pdf: &Path) -> Vec<(usize, f32, f32, f32, f32, String)> {
    let html = pdftotext(pdf, &["-bbox"]);
    let mut page = 0;
    let mut words = Vec::new();
    for line in html.lines() {
        let line = line.trim();
        if line.starts_with("<page") {
            page += 1;
        }
        let Some(rest) = line.strip_prefix("<word ") else {
            continue;
        };
        let attr = |name: &str| -> f32 {
            let key = format!("{name}=\"");
            let start = rest.find(&key).expect("attribute") + key.len();
            let end = start + rest[start..].find('"').expect("quote");
            rest[start..end].parse().expect("number")
        };
        let text_start = rest.find('>').expect(">") + 1;
        let text_end = rest.rfind("</word>").expect("</word>");
        words.push((
            page,
            attr("xMin"),
            attr("yMin"),
            attr("xMax"),
            attr("yMax"),
            rest[text_start..text_end].to_string(),
        ));
    }
    words
}

#[test]
fn text_stays_inside_its_blocks() {
    let (Some(fonts), true) = (fonts(), tools(&["pdftotext"])) else {
        return;
    };
    let mm = 72.0 / 25.4;
    for sample in [Sample::business_licence(), Sample::permit()] {
        let bytes = render_pdf(fonts, &sample.view(RenderMode::Print)).expect("render");
        let dir = tempfile::tempdir().expect("tempdir");
        let pdf = write_pdf(dir.path(), "c.pdf", &bytes);
        let words = word_boxes(&pdf);
        assert!(words.len() > 10);
        let slack = 0.3 * mm;
        // pdftotext's boxes span the font's whole ascent and descent (1.16 + 0.29 em for
        // Noto CJK), taller than the ideographic em box the renderer fits: allow a fifth of
        // the box height vertically.
        let slack_v = |y0: f32, y1: f32| slack + 0.2 * (y1 - y0);
        for (_, x0, y0, x1, y1, w) in &words {
            let sv = slack_v(*y0, *y1);
            let inside = sample.layout.blocks.iter().any(|b| {
                *x0 >= b.x_mm * mm - slack
                    && *x1 <= (b.x_mm + b.w_mm) * mm + slack
                    && *y0 >= b.y_mm * mm - sv
                    && *y1 <= (b.y_mm + b.h_mm) * mm + sv
            });
            assert!(
                inside,
                "{w} at ({x0},{y0})-({x1},{y1}) is outside every block"
            );
        }
        // The long text's own words stay in the long-text block.
        let lt = sample
            .layout
            .blocks
            .iter()
            .find(|b| b.role == BlockRole::LongText)
            .expect("long text block");
        let scope = sample.long_texts[0].1;
        for (_, x0, y0, x1, y1, w) in words.iter().filter(|w| w.5.chars().count() > 6) {
            if scope.contains(w.as_str()) {
                let sv = slack_v(*y0, *y1);
                assert!(*x0 >= lt.x_mm * mm - slack && *x1 <= (lt.x_mm + lt.w_mm) * mm + slack);
                assert!(*y0 >= lt.y_mm * mm - sv && *y1 <= (lt.y_mm + lt.h_mm) * mm + sv);
            }
        }
    }
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    for mode in [
        RenderMode::Specimen,
        RenderMode::Electronic,
        RenderMode::Print,
    ] {
        let a = render_pdf(fonts, &sample.view(mode)).expect("render");
        let b = render_pdf(fonts, &sample.view(mode)).expect("render");
        assert!(a == b, "{mode:?} renders differ");
        assert!(a.starts_with(b"%PDF-"));
    }
    // A different certificate gets a different document id.
    let other = render_pdf(fonts, &Sample::permit().view(RenderMode::Print)).expect("render");
    let id = |b: &[u8]| id_spans(b).map(|[s, _]| b[s.0..s.1].to_vec());
    let first = render_pdf(fonts, &sample.view(RenderMode::Print)).expect("render");
    assert_ne!(id(&first), id(&other));
}

#[test]
fn pages_stay_small_with_subset_fonts() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    let bytes = render_pdf(fonts, &sample.view(RenderMode::Print)).expect("render");
    let per_page = bytes.len() / sample.copies.len();
    assert!(per_page < 100_000, "{per_page} bytes per page");
    let permit = render_pdf(fonts, &Sample::permit().view(RenderMode::Print)).expect("render");
    assert!(permit.len() < 100_000, "{} bytes", permit.len());
}

#[test]
fn serials_must_match_the_copies() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    let one = vec!["LY1".to_string()];
    let view = CertificateView {
        serials: Some(&one),
        ..sample.view(RenderMode::Print)
    };
    assert!(matches!(
        render_pdf(fonts, &view),
        Err(RenderError::SerialCountMismatch {
            copies: 2,
            serials: 1
        })
    ));
    let view = CertificateView {
        copies: &[],
        ..sample.view(RenderMode::Print)
    };
    assert!(matches!(
        render_pdf(fonts, &view),
        Err(RenderError::NoCopies)
    ));
}

#[test]
fn a_character_no_font_has_is_refused_not_printed_as_a_box() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::permit();
    let view = CertificateView {
        holder_name: "张\u{F8FF}梅",
        ..sample.view(RenderMode::Print)
    };
    match render_pdf(fonts, &view) {
        Err(RenderError::MissingGlyphs { chars }) => assert_eq!(chars, "\u{F8FF}"),
        other => panic!("expected MissingGlyphs, got {other:?}"),
    }
}

#[test]
fn a_qr_block_under_30_mm_is_refused() {
    let Some(fonts) = fonts() else { return };
    let mut sample = Sample::permit();
    for b in &mut sample.layout.blocks {
        if b.role == BlockRole::Qr {
            b.w_mm = 25.0;
        }
    }
    assert!(matches!(
        render_pdf(fonts, &sample.view(RenderMode::Print)),
        Err(RenderError::QrBlockTooSmall { .. })
    ));
}

#[test]
fn fonts_are_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Fonts>();
}

#[test]
fn the_load_time_subset_covers_the_samples_and_keeps_the_advances() {
    let Some(fonts) = fonts() else { return };
    let sample = Sample::business_licence();
    let view = sample.view(RenderMode::Print);
    let mut texts = vec![
        view.title,
        view.holder_name,
        view.validity,
        view.authority_name,
    ];
    for (l, v) in view.fields.iter().chain(view.long_texts) {
        texts.extend([*l, *v]);
    }
    let (font, gids) = fonts.body.for_texts(texts.iter().copied());
    assert!(std::ptr::eq(font, &fonts.body.font));
    // The document cuts its program from the print face: the glyphs it shows, once each.
    let gids = gids.expect("the print face is CID-keyed CFF");
    assert!(gids.windows(2).all(|w| w[0] < w[1]), "ascending, unique");
    let chars: std::collections::BTreeSet<char> = texts.iter().flat_map(|t| t.chars()).collect();
    assert_eq!(gids.len(), chars.len());
    // A rarer hanzi (not in GB 2312) still prints, through the whole face.
    assert!(fonts.body.has_glyph('堃'));
    let (font, gids) = fonts.body.for_texts(["王堃"].into_iter());
    assert!(std::ptr::eq(font, &fonts.body.full));
    assert!(gids.is_none());
    assert!(fonts.body.font.num_glyphs < fonts.body.full.num_glyphs / 4);
    // The subset renumbers glyphs but keeps each character's advance.
    for c in "营业执照经营范围ABC123（）：".chars() {
        let advance = |f: &printpdf::ParsedFont| {
            f.lookup_glyph_index(u32::from(c))
                .map(|g| f.get_horizontal_advance(g))
        };
        assert_eq!(advance(&fonts.body.font), advance(&fonts.body.full), "{c}");
        assert_ne!(advance(&fonts.body.font), Some(0), "{c}");
    }
}

#[test]
fn a_cut_program_keeps_each_glyphs_cid_and_the_stub_keeps_the_metrics() {
    use allsorts::binary::read::ReadScope;
    use allsorts::cff::CFF;
    let Some(fonts) = fonts() else { return };
    let face = &fonts.body;
    let Some(cut) = face.cut.as_ref() else {
        panic!("the Noto print face is CID-keyed CFF and is cut per document");
    };
    let (cutter, stub) = (&cut.cutter, &cut.stub);
    let text = "营业执照经营范围ABC123（）";
    let (_, gids) = face.for_texts([text].into_iter());
    let gids = gids.expect("all in the print face");
    let cut = cutter.cut(&gids).expect("a cut");
    let cut = ReadScope::new(&cut)
        .read::<CFF<'_>>()
        .expect("the cut parses");
    let whole = ReadScope::new(cutter.stub())
        .read::<CFF<'_>>()
        .expect("the stub parses");
    let (cut, whole) = (&cut.fonts[0], &whole.fonts[0]);
    // .notdef, then the glyphs in ascending order, each under its old CID: the codes
    // printpdf wrote (CIDs) still name the same glyphs.
    assert_eq!(cut.char_strings_index.len(), gids.len() + 1);
    for (new, old) in gids.iter().enumerate() {
        let new = u16::try_from(new + 1).unwrap();
        assert_eq!(
            cut.charset.id_for_glyph(new),
            whole.charset.id_for_glyph(*old)
        );
        assert!(
            cut.char_strings_index
                .read_object(usize::from(new))
                .unwrap()
                .len()
                > 1
        );
    }
    // printpdf measures and maps characters on the stub exactly as on the real face.
    for c in text.chars() {
        let gid = |f: &printpdf::ParsedFont| f.lookup_glyph_index(u32::from(c));
        assert_eq!(gid(stub), gid(&face.font), "{c}");
        let g = gid(stub).unwrap();
        assert_eq!(
            stub.get_horizontal_advance(g),
            face.font.get_horizontal_advance(g)
        );
    }
}

//! The frame around every certificate page (heavy outer rule, band of small diamonds, thin
//! inner line) depends only on the page size. It is written and compressed once per
//! process and page size, and each page shows it as a Form XObject (`/Fr Do`): a page no
//! longer builds, serialises and compresses some 400 diamonds (issue 26).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};

use lopdf::{Dictionary, Object, Stream};

use super::page::{frame_margin, FRAME_INNER_MM};
use super::RenderError;

/// The frame's resource name in the pages' XObject dictionary.
pub(crate) const FRAME_XOBJECT: &str = "Fr";

const PT_PER_MM: f32 = 72.0 / 25.4;

/// zlib level of the cached frame: paid once per process, so the best.
const FRAME_ZLIB_LEVEL: u32 = 9;

/// A frame's content stream, deflated unless deflating failed.
struct FrameStream {
    bytes: Vec<u8>,
    deflated: bool,
}

/// The frame of a `w` x `h` mm page: its content stream, compressed.
fn frame_stream(w: f32, h: f32) -> Arc<FrameStream> {
    type Cache = Mutex<HashMap<(u32, u32), Arc<FrameStream>>>;
    static FRAMES: OnceLock<Cache> = OnceLock::new();
    let key = (w.to_bits(), h.to_bits());
    let cache = FRAMES.get_or_init(Cache::default);
    // A poisoned lock only means another thread panicked while inserting: use it anyway.
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    Arc::clone(map.entry(key).or_insert_with(|| {
        let content = frame_content(w, h).into_bytes();
        Arc::new(match deflate(&content) {
            Some(bytes) => FrameStream {
                bytes,
                deflated: true,
            },
            None => FrameStream {
                bytes: content,
                deflated: false,
            },
        })
    }))
}

fn deflate(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::new(FRAME_ZLIB_LEVEL),
    );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .ok()
}

/// Points from the page's bottom-left corner, rounded to 1/100 pt as the pages' own
/// content is (see `canvas::to_pt`).
struct Writer {
    out: String,
    h: f32,
}

impl Writer {
    fn num(&mut self, v: f32) {
        let r = (v * 100.0).round() / 100.0;
        // `{}` of an f32 gives the shortest exact form; -0 is written 0.
        let r = if r == 0.0 { 0.0 } else { r };
        let _ = write!(self.out, "{r} ");
    }

    fn pt(&mut self, x_mm: f32, y_mm: f32) {
        self.num(x_mm * PT_PER_MM);
        self.num((self.h - y_mm) * PT_PER_MM);
    }

    fn op(&mut self, op: &str) {
        self.out.push_str(op);
        self.out.push('\n');
    }

    /// A stroked rectangle given by its top-left corner in mm.
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.pt(x, y + h);
        self.num(w * PT_PER_MM);
        self.num(h * PT_PER_MM);
        self.op("re S");
    }
}

/// The frame's drawing operators: a heavy outer rule, a band of small diamonds, and a thin
/// inner rule, in the frame colour. Each side's diamonds are one diamond drawn again and
/// again after a constant translation (`cm`), so the stream is a few lines repeated and
/// deflates to a few hundred bytes instead of some 400 distinct paths.
pub(crate) fn frame_content(w: f32, h: f32) -> String {
    let m = frame_margin(w, h);
    let mut p = Writer {
        out: String::with_capacity(16 * 1024),
        h,
    };
    let (r, g, b) = super::page::FRAME_RGB;
    p.op(&format!("q {r} {g} {b} RG {r} {g} {b} rg"));
    p.num(0.9 * PT_PER_MM);
    p.op("w");
    p.rect(m, m, w - 2.0 * m, h - 2.0 * m);
    let band_in = m + 1.3;
    let band_out = m + FRAME_INNER_MM;
    p.num(0.18 * PT_PER_MM);
    p.op("w");
    p.rect(band_out, band_out, w - 2.0 * band_out, h - 2.0 * band_out);
    let mid = (band_in + band_out) / 2.0 - 0.5;
    let half = 0.8 * PT_PER_MM;
    let pitch = 3.2;
    // One diamond around the current origin, filled.
    let diamond = {
        let mut d = Writer {
            out: String::new(),
            h: 0.0,
        };
        for (x, y, op) in [
            (0.0, -half, "m"),
            (half, 0.0, "l"),
            (0.0, half, "l"),
            (-half, 0.0, "l h f"),
        ] {
            d.num(x);
            d.num(y);
            d.op(op);
        }
        d.out
    };
    // Diamonds evenly spread from `from` to `to` (mm, inclusive) along one side: a
    // diamond at the first position, then a step and a diamond for each of the others.
    let mut row = |start: (f32, f32), step: (f32, f32), count: usize| {
        p.op("q");
        p.out.push_str("1 0 0 1 ");
        p.pt(start.0, start.1);
        p.op("cm");
        p.out.push_str(&diamond);
        let step = format!(
            "1 0 0 1 {:.4} {:.4} cm\n",
            step.0 * PT_PER_MM,
            -step.1 * PT_PER_MM
        );
        for _ in 1..count {
            p.out.push_str(&step);
            p.out.push_str(&diamond);
        }
        p.op("Q");
    };
    let spread = |from: f32, to: f32| {
        let n = ((to - from) / pitch).floor().max(1.0) as usize;
        (n, (to - from) / n as f32)
    };
    // Top and bottom rows, corners included.
    let (n, step) = spread(mid, w - mid);
    row((mid, mid), (step, 0.0), n + 1);
    row((mid, h - mid), (step, 0.0), n + 1);
    // Left and right columns, without the corners.
    let (n, step) = spread(mid, h - mid);
    if n >= 2 {
        row((mid, mid + step), (0.0, step), n - 1);
        row((w - mid, mid + step), (0.0, step), n - 1);
    }
    p.op("Q");
    p.out
}

/// Add the frame of a `w` x `h` mm page to `doc` as a Form XObject named
/// [`FRAME_XOBJECT`] in every page's XObject resources (the pages draw it with `Do`).
pub(crate) fn add_frame(doc: &mut lopdf::Document, w: f32, h: f32) -> Result<(), RenderError> {
    let content = frame_stream(w, h);
    let mut stream = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"XObject".to_vec())),
            ("Subtype", Object::Name(b"Form".to_vec())),
            (
                "BBox",
                Object::Array(vec![
                    0.into(),
                    0.into(),
                    Object::Real(w * PT_PER_MM),
                    Object::Real(h * PT_PER_MM),
                ]),
            ),
            ("Resources", Object::Dictionary(Dictionary::new())),
        ]),
        content.bytes.clone(),
    );
    if content.deflated {
        stream
            .dict
            .set("Filter", Object::Name(b"FlateDecode".to_vec()));
        stream.allows_compression = false;
    }
    let form = doc.add_object(stream);
    // printpdf gives all pages one XObject dictionary; find each page's and add the frame.
    let pages: Vec<lopdf::ObjectId> = doc.page_iter().collect();
    let mut dicts = Vec::new();
    for page in pages {
        let resources = doc
            .get_dictionary(page)
            .and_then(|d| d.get(b"Resources"))
            .and_then(Object::as_reference)
            .map_err(|_| RenderError::Trailer)?;
        let xobjects = doc
            .get_dictionary(resources)
            .and_then(|d| d.get(b"XObject"))
            .and_then(Object::as_reference)
            .map_err(|_| RenderError::Trailer)?;
        if !dicts.contains(&xobjects) {
            dicts.push(xobjects);
        }
    }
    for id in dicts {
        doc.get_dictionary_mut(id)
            .map_err(|_| RenderError::Trailer)?
            .set(FRAME_XOBJECT, Object::Reference(form));
    }
    Ok(())
}

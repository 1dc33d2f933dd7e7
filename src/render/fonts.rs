//! Finding and loading the CJK faces once per process, and measuring text with them.
//! No font ships in the crate (the Noto CJK collections are 20-27 MB each), so we look in the
//! configured folder first, then in the Debian package locations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use printpdf::ParsedFont;

use super::RenderError;

/// One face to try: a font file and the face index inside it (`.ttc` collections hold several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontCandidate {
    pub path: PathBuf,
    pub index: usize,
}

impl FontCandidate {
    pub fn new(path: impl Into<PathBuf>, index: usize) -> FontCandidate {
        FontCandidate {
            path: path.into(),
            index,
        }
    }
}

/// Face 2 of the Noto CJK collections is Simplified Chinese (JP, KR, SC, TC, HK): the SC face
/// draws the mainland glyph forms (e.g. 证, 经营) that a certificate must show.
const NOTO_SC_FACE: usize = 2;

/// File names tried, in order, for body text and for titles (bold first).
/// Each entry is (file name, face index). Body text is set in the serif face, the Song
/// style of the paper licences these replace; titles stay in the sans bold. The serif's
/// outlines are about half as large again as the sans's; documents embed them without
/// hints and without subroutines ([`super::cff`]), which keeps every electronic licence
/// under 100 KB. The fallbacks are single-face families that cover GB 2312 at least, so a
/// machine without Noto still renders readable (if plainer) pages.
const BODY_FILES: &[(&str, usize)] = &[
    ("NotoSerifCJK-Regular.ttc", NOTO_SC_FACE),
    ("NotoSerifCJKsc-Regular.otf", 0),
    ("NotoSansCJK-Regular.ttc", NOTO_SC_FACE),
    ("NotoSansCJKsc-Regular.otf", 0),
    ("wqy-microhei.ttc", 0),
    ("uming.ttc", 0),
    ("DroidSansFallbackFull.ttf", 0),
];
const TITLE_FILES: &[(&str, usize)] = &[
    ("NotoSansCJK-Bold.ttc", NOTO_SC_FACE),
    ("NotoSansCJKsc-Bold.otf", 0),
    ("NotoSerifCJK-Bold.ttc", NOTO_SC_FACE),
    ("NotoSansCJK-Regular.ttc", NOTO_SC_FACE),
    ("NotoSansCJKsc-Regular.otf", 0),
    ("wqy-microhei.ttc", 0),
];
/// Where Debian's fonts-noto-cjk, fonts-arphic-uming, fonts-wqy-microhei and
/// fonts-droid-fallback put those files.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/arphic",
    "/usr/share/fonts/truetype/wqy",
    "/usr/share/fonts/truetype/droid",
];

/// A character every usable face must have: a Latin-only font named in the configured folder
/// would otherwise "load" and then print tofu boxes.
const PROBE_CHAR: char = '证';

/// The faces used on every page. Loaded once per process and shared (`Send + Sync`); cloning
/// a face into a document copies tables but never re-reads the file.
pub struct Fonts {
    pub(crate) body: Face,
    /// `None` when no title face was found: titles then use the body face.
    pub(crate) title: Option<Face>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("body", &self.body.source)
            .field("title", &self.title.as_ref().map(|t| &t.source))
            .finish()
    }
}

impl Fonts {
    /// Load the body (serif regular) and title (sans bold) faces: first from `font_dir` (the
    /// `CROSSCERT_FONT_DIR` setting), then from the system font folders.
    pub fn load(font_dir: Option<&Path>) -> Result<Fonts, RenderError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(dir) = font_dir {
            dirs.push(dir.to_path_buf());
        }
        dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
        let body = candidates(&dirs, BODY_FILES);
        let title = candidates(&dirs, TITLE_FILES);
        Fonts::load_from(&body, &title)
    }

    /// [`Fonts::load`], once per process and folder: loading cuts each face down (about half
    /// a second of CPU in release builds, seconds in debug ones), and a test binary starts
    /// dozens of servers.
    pub fn load_shared(font_dir: Option<&Path>) -> Result<Arc<Fonts>, RenderError> {
        type Cache = Mutex<HashMap<Option<PathBuf>, Arc<Fonts>>>;
        static LOADED: OnceLock<Cache> = OnceLock::new();
        let key = font_dir.map(Path::to_path_buf);
        let cache = LOADED.get_or_init(Cache::default);
        // A poisoned lock only means another thread panicked mid-load: load again.
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fonts) = map.get(&key) {
            return Ok(Arc::clone(fonts));
        }
        let fonts = Arc::new(Fonts::load(font_dir)?);
        map.insert(key, Arc::clone(&fonts));
        Ok(fonts)
    }

    /// Load from explicit candidate lists, first usable face wins. Separate from [`Fonts::load`]
    /// so that tests can prove the "nothing installed" path without touching system folders.
    pub fn load_from(
        body: &[FontCandidate],
        title: &[FontCandidate],
    ) -> Result<Fonts, RenderError> {
        let body_face =
            body.iter()
                .find_map(Face::open)
                .ok_or_else(|| RenderError::FontMissing {
                    searched: body.iter().map(|c| c.path.clone()).collect(),
                })?;
        // The same file and face as the body would embed the same glyphs twice.
        let title_face = title
            .iter()
            .filter(|c| **c != body_face.source)
            .find_map(Face::open);
        Ok(Fonts {
            body: body_face,
            title: title_face,
        })
    }

    /// Which files were loaded, for the startup log.
    pub fn describe(&self) -> String {
        let title = match &self.title {
            Some(t) => format!("{}#{}", t.source.path.display(), t.source.index),
            None => "(body face)".to_string(),
        };
        format!(
            "body {}#{}, title {}",
            self.body.source.path.display(),
            self.body.source.index,
            title
        )
    }

    pub(crate) fn title_face(&self) -> &Face {
        self.title.as_ref().unwrap_or(&self.body)
    }
}

fn candidates(dirs: &[PathBuf], files: &[(&str, usize)]) -> Vec<FontCandidate> {
    dirs.iter()
        .flat_map(|dir| {
            files
                .iter()
                .map(move |(name, index)| FontCandidate::new(dir.join(name), *index))
        })
        .collect()
}

/// A parsed face plus what text layout needs from it, precomputed.
///
/// printpdf subsets the embedded font on every save, and allsorts' subsetter walks every
/// mapping of the face's cmap to rebuild one: for a 65k-glyph Noto CJK face that scan was a
/// third of a page's render time. So the face is cut down once, at load time, to the
/// characters certificates are written in ([`print_charset`]); documents embed from that
/// small face, and only a document with a character outside it falls back to the whole face.
pub(crate) struct Face {
    pub(crate) source: FontCandidate,
    /// The face reduced to [`print_charset`]: what documents normally embed from.
    pub(crate) font: ParsedFont,
    /// The whole face: documents with rarer characters.
    pub(crate) full: ParsedFont,
    /// Glyph id in `font` of each code point below [`DENSE_END`], 0 when absent.
    small_gids: Vec<u16>,
    /// The same for `full`.
    full_gids: Vec<u16>,
    /// How documents cut their own font program from `font`; `None` for a face that is
    /// not CID-keyed CFF (printpdf then subsets it).
    pub(crate) cut: Option<Cutting>,
    /// Advance in em of each code point below [`DENSE_END`] (1 em when absent).
    advances: Vec<f32>,
}

/// A print face that documents cut their font program from.
pub(crate) struct Cutting {
    /// The face's CFF program and what each glyph needs of it ([`super::cff::CffCutter`]).
    pub(crate) cutter: super::cff::CffCutter,
    /// The face with the cutter's outline-free program in place of its CFF table: what
    /// printpdf is given (same glyph ids, CIDs, metrics and cmap; a few kilobytes for it to
    /// copy and parse on each save instead of 1.9 MB).
    pub(crate) stub: ParsedFont,
}

/// Code points covered by the dense lookup tables: the BMP and the supplementary
/// ideographic plane (CJK extensions B-F), 0x30000 entries.
const DENSE_END: u32 = 0x30000;

impl Face {
    /// `None` when the file is absent, unreadable, not a font, or lacks CJK glyphs: the caller
    /// moves on to the next candidate and reports every path it tried if none fits.
    fn open(candidate: &FontCandidate) -> Option<Face> {
        let bytes = std::fs::read(&candidate.path).ok()?;
        let mut warnings = Vec::new();
        let mut full = ParsedFont::from_bytes(&bytes, candidate.index, &mut warnings)?;
        let full_gids = dense_cmap(&bytes, candidate.index)?;
        if full_gids[PROBE_CHAR as usize] == 0 {
            return None;
        }
        let units_per_em = match full.font_metrics.units_per_em {
            0 => 1000.0,
            u => f32::from(u),
        };
        let advances = full_gids
            .iter()
            .map(|gid| match gid {
                0 => 1.0,
                g => f32::from(full.get_horizontal_advance(*g)) / units_per_em,
            })
            .collect();
        // A face the subsetter cannot cut still prints: every document then uses it whole.
        let (mut font, small_gids, mut cut) = match subset_face(&bytes, candidate.index, &full_gids)
        {
            Some((font, gids, otf)) => {
                let cut = printpdf::font::extract_cid_keyed_cff(&otf, 0)
                    .and_then(|cff| {
                        super::cff::CffCutter::new(cff, |g| font.get_horizontal_advance(g))
                    })
                    .and_then(|cutter| {
                        let stub_otf = replace_table(&otf, *b"CFF ", cutter.stub())?;
                        let stub = ParsedFont::from_bytes(&stub_otf, 0, &mut Vec::new())?;
                        Some(Cutting { cutter, stub })
                    });
                (font, gids, cut)
            }
            None => (full.clone(), full_gids.clone(), None),
        };
        // allsorts looks characters up by scanning the cmap's segments one by one (tens of
        // thousands of format-12 groups in Noto CJK), and printpdf looks up every character
        // it writes: a direct table makes each lookup one index.
        install_dense_cmap(&mut full, &full_gids);
        install_dense_cmap(&mut font, &small_gids);
        if let Some(cut) = cut.as_mut() {
            // The print charset is all in the BMP: a shorter table is cheaper to clone
            // into each document.
            install_dense_cmap(&mut cut.stub, &small_gids[..0x10000]);
        }
        Some(Face {
            source: candidate.clone(),
            font,
            full,
            small_gids,
            full_gids,
            cut,
            advances,
        })
    }

    /// Advance of one character in em. A character the face lacks counts as one em, the
    /// width of the box the viewer will draw for it.
    pub(crate) fn advance_em(&self, c: char) -> f32 {
        self.advances.get(c as usize).copied().unwrap_or(1.0)
    }

    /// Width of `text` in em.
    pub(crate) fn width_em(&self, text: &str) -> f32 {
        text.chars().map(|c| self.advance_em(c)).sum()
    }

    pub(crate) fn has_glyph(&self, c: char) -> bool {
        c.is_whitespace() || self.full_gids.get(c as usize).is_some_and(|g| *g != 0)
    }

    /// The face a document embeds: the load-time subset when it has every character of
    /// `texts`, else the whole face (slower to save, same look). With the subset comes the
    /// list of its glyphs the texts show, when the document can cut its font program
    /// itself ([`Face::cut`]).
    pub(crate) fn for_texts<'t>(
        &self,
        texts: impl Iterator<Item = &'t str>,
    ) -> (&ParsedFont, Option<Vec<u16>>) {
        let mut gids = Vec::new();
        for c in texts.flat_map(str::chars) {
            match self.small_gids.get(c as usize) {
                Some(g) if *g != 0 => gids.push(*g),
                _ => return (&self.full, None),
            }
        }
        gids.sort_unstable();
        gids.dedup();
        (&self.font, self.cut.as_ref().map(|_| gids))
    }
}

/// Face `index` of `bytes`: the glyph id of every code point below [`DENSE_END`].
fn dense_cmap(bytes: &[u8], index: usize) -> Option<Vec<u16>> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::tables::cmap::Cmap;
    use allsorts::tables::FontTableProvider;

    let font_file = ReadScope::new(bytes).read::<FontData<'_>>().ok()?;
    let provider = font_file.table_provider(index).ok()?;
    let data = provider.read_table_data(allsorts::tag::CMAP).ok()?;
    let cmap = ReadScope::new(&data).read::<Cmap<'_>>().ok()?;
    let (_, sub) = allsorts::font::read_cmap_subtable(&cmap).ok()??;
    let mut gids = vec![0u16; DENSE_END as usize];
    sub.mappings_fn(|ch, gid| {
        if let Some(slot) = gids.get_mut(ch as usize) {
            *slot = gid;
        }
    })
    .ok()?;
    Some(gids)
}

/// An sfnt (`OTTO`/TrueType, one face) with table `tag`'s data replaced by `data`. The
/// result is only parsed in memory (never embedded), so table checksums are not updated.
fn replace_table(sfnt: &[u8], tag: [u8; 4], data: &[u8]) -> Option<Vec<u8>> {
    let be16 = |at: usize| Some(u16::from_be_bytes(sfnt.get(at..at + 2)?.try_into().ok()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(sfnt.get(at..at + 4)?.try_into().ok()?));
    let count = usize::from(be16(4)?);
    let header_len = 12 + 16 * count;
    let mut out = sfnt.get(..header_len)?.to_vec();
    let mut replaced = false;
    for i in 0..count {
        let record = 12 + 16 * i;
        let offset = usize::try_from(be32(record + 8)?).ok()?;
        let length = usize::try_from(be32(record + 12)?).ok()?;
        let body = if sfnt.get(record..record + 4)? == tag {
            replaced = true;
            data
        } else {
            sfnt.get(offset..offset.checked_add(length)?)?
        };
        while out.len() % 4 != 0 {
            out.push(0);
        }
        let new_offset = u32::try_from(out.len()).ok()?;
        let new_length = u32::try_from(body.len()).ok()?;
        out[record + 8..record + 12].copy_from_slice(&new_offset.to_be_bytes());
        out[record + 12..record + 16].copy_from_slice(&new_length.to_be_bytes());
        out.extend_from_slice(body);
    }
    replaced.then_some(out)
}

/// Replace the face's parsed cmap by a format-10 table (one entry per code point): same
/// mappings, constant-time lookups. Code points it lacks map to glyph 0 (.notdef); which
/// characters a face really has is answered by the `*_gids` tables.
fn install_dense_cmap(font: &mut ParsedFont, gids: &[u16]) {
    font.cmap_subtable = Some(allsorts::tables::cmap::owned::CmapSubtable::Format10 {
        language: 0,
        start_char_code: 0,
        glyph_id_array: gids.to_vec(),
    });
}

/// The characters the load-time subset keeps: printable ASCII, all of GB 2312 (its 6763
/// hanzi of levels 1 and 2, CJK punctuation, fullwidth forms, symbols), and the general
/// punctuation, Latin-1 signs and units that Chinese forms use. Names with rarer hanzi (堃, 玥)
/// still print, through the whole face.
pub(crate) fn print_charset() -> Vec<char> {
    let mut chars: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
    // EUC-CN: lead and trail bytes 0xA1..=0xFE; rows 0xF8.. are user-defined, rows
    // 0xAA..=0xAF unassigned (GBK maps both to the private use area, filtered below).
    for lead in 0xA1u8..=0xF7 {
        for trail in 0xA1u8..=0xFE {
            let pair = [lead, trail];
            let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(&pair);
            if had_errors {
                continue;
            }
            if let Some(c) = text.chars().next() {
                if !('\u{E000}'..='\u{F8FF}').contains(&c) {
                    chars.push(c);
                }
            }
        }
    }
    chars.extend(('\u{2010}'..='\u{2027}').chain('\u{3000}'..='\u{303F}'));
    chars.extend(('\u{FF01}'..='\u{FF5E}').chain(['·', '×', '°', '±', '№', '®', '©']));
    // Units the catalog's forms use (不动产权证书: 面积 in ㎡) that GB 2312 lacks: without
    // them such a page fell back to the whole face (printpdf's subsetter, twice the time).
    chars.extend(['㎡', '㎥']);
    chars.sort_unstable();
    chars.dedup();
    chars
}

/// Cut face `index` of `bytes` down to the glyphs of [`print_charset`]; `gids` is its dense
/// cmap. Returns the cut face and its own dense cmap (the subset renumbers the glyphs).
fn subset_face(
    bytes: &[u8],
    index: usize,
    gids: &[u16],
) -> Option<(ParsedFont, Vec<u16>, Vec<u8>)> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{subset, CmapTarget, SubsetProfile};

    let mut keep: Vec<u16> = print_charset()
        .into_iter()
        .filter_map(|c| gids.get(c as usize).copied())
        .filter(|gid| *gid != 0)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    // .notdef first, as allsorts requires.
    keep.insert(0, 0);
    let font_file = ReadScope::new(bytes).read::<FontData<'_>>().ok()?;
    let provider = font_file.table_provider(index).ok()?;
    let cut = subset(
        &provider,
        &keep,
        &SubsetProfile::Minimal,
        CmapTarget::Unicode,
    )
    .ok()?;
    let mut warnings = Vec::new();
    let font = ParsedFont::from_bytes(&cut, 0, &mut warnings)?;
    let cut_gids = dense_cmap(&cut, 0)?;
    if cut_gids[PROBE_CHAR as usize] == 0 {
        return None;
    }
    Some((font, cut_gids, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fonts_name_the_package_and_the_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = vec![FontCandidate::new(
            dir.path().join("NotoSerifCJK-Regular.ttc"),
            2,
        )];
        let title = vec![FontCandidate::new(
            dir.path().join("NotoSansCJK-Bold.ttc"),
            2,
        )];
        let err = Fonts::load_from(&body, &title).expect_err("no font there");
        assert!(matches!(err, RenderError::FontMissing { .. }));
        let msg = err.to_string();
        assert!(msg.contains("fonts-noto-cjk"), "{msg}");
        assert!(msg.contains("CROSSCERT_FONT_DIR"), "{msg}");
        assert!(msg.contains("NotoSerifCJK-Regular.ttc"), "{msg}");
    }

    #[test]
    fn a_file_that_is_not_a_font_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bogus = dir.path().join("NotoSerifCJK-Regular.ttc");
        std::fs::write(&bogus, b"not a font").expect("write");
        let err = Fonts::load_from(&[FontCandidate::new(bogus, 2)], &[]).expect_err("bogus");
        assert!(matches!(err, RenderError::FontMissing { .. }));
    }

    #[test]
    fn configured_dir_is_searched_before_system_dirs() {
        let dirs = vec![PathBuf::from("/opt/fonts"), PathBuf::from("/usr/share/x")];
        let list = candidates(&dirs, BODY_FILES);
        assert_eq!(
            list[0].path,
            PathBuf::from("/opt/fonts/NotoSerifCJK-Regular.ttc")
        );
        assert_eq!(list[0].index, NOTO_SC_FACE);
        assert!(list[BODY_FILES.len()].path.starts_with("/usr/share/x"));
    }
}

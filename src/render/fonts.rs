//! Finding and loading the CJK faces once per process, and measuring text with them.
//! No font ships in the crate (the Noto CJK collections are 20-27 MB each), so we look in the
//! configured folder first, then in the Debian package locations.

use std::path::{Path, PathBuf};

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

/// File names tried, in order, for body text (serif) and for titles (sans, bold first).
/// Each entry is (file name, face index). The fallbacks are single-face families that cover
/// GB 2312 at least, so a machine without Noto still renders readable (if plainer) pages.
const BODY_FILES: &[(&str, usize)] = &[
    ("NotoSerifCJK-Regular.ttc", NOTO_SC_FACE),
    ("NotoSerifCJKsc-Regular.otf", 0),
    ("NotoSansCJK-Regular.ttc", NOTO_SC_FACE),
    ("NotoSansCJKsc-Regular.otf", 0),
    ("uming.ttc", 0),
    ("wqy-microhei.ttc", 0),
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
    /// Load the body (serif) and title (sans bold) faces: first from `font_dir` (the
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
pub(crate) struct Face {
    pub(crate) source: FontCandidate,
    pub(crate) font: ParsedFont,
    units_per_em: f32,
}

impl Face {
    /// `None` when the file is absent, unreadable, not a font, or lacks CJK glyphs: the caller
    /// moves on to the next candidate and reports every path it tried if none fits.
    fn open(candidate: &FontCandidate) -> Option<Face> {
        let bytes = std::fs::read(&candidate.path).ok()?;
        let mut warnings = Vec::new();
        let font = ParsedFont::from_bytes(&bytes, candidate.index, &mut warnings)?;
        font.lookup_glyph_index(u32::from(PROBE_CHAR))?;
        let units_per_em = match font.font_metrics.units_per_em {
            0 => 1000.0,
            u => f32::from(u),
        };
        Some(Face {
            source: candidate.clone(),
            font,
            units_per_em,
        })
    }

    /// Advance of one character in em. A character the face lacks counts as one em, the
    /// width of the box the viewer will draw for it.
    pub(crate) fn advance_em(&self, c: char) -> f32 {
        match self.font.lookup_glyph_index(u32::from(c)) {
            Some(gid) => f32::from(self.font.get_horizontal_advance(gid)) / self.units_per_em,
            None => 1.0,
        }
    }

    /// Width of `text` in em.
    pub(crate) fn width_em(&self, text: &str) -> f32 {
        text.chars().map(|c| self.advance_em(c)).sum()
    }

    pub(crate) fn has_glyph(&self, c: char) -> bool {
        c.is_whitespace() || self.font.lookup_glyph_index(u32::from(c)).is_some()
    }
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

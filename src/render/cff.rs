//! Shrinking the CFF font programs printpdf embeds. allsorts subsets a CID-keyed CFF by
//! emptying the subroutines no kept glyph calls, but keeps every entry so that the callers'
//! (biased) subroutine numbers stay valid: Noto CJK's main Local Subr INDEX has some 26 000
//! entries, so a page title of eight glyphs still carried 57 KB of offsets. Entries after
//! the last one in use can go, as long as the count stays in the same bias class (Type 2
//! charstrings, Technical Note #5177 §4.7: 107 below 1240 entries, 1131 below 33900, 32768
//! above), which keeps every call pointing at the same subroutine.

use allsorts::binary::read::{ReadArrayCow, ReadScope};
use allsorts::binary::write::{WriteBinary, WriteBuffer};
use allsorts::cff::charstring::{
    ArgumentsStack, CharStringVisitor, CharStringVisitorContext, SubroutineIndex, VisitOp,
};
use allsorts::cff::{
    CFFError, CFFFont, CFFVariant, Charset, CustomCharset, FDSelect, IndexU16, MaybeOwnedIndex,
    CFF, MAX_OPERANDS,
};

/// Smallest entry count with the same subroutine bias as `count` entries.
fn bias_class_floor(count: usize) -> usize {
    match count {
        0..1240 => 0,
        1240..33900 => 1240,
        _ => 33900,
    }
}

/// The raw bytes of a CFF INDEX of `items` (16-bit count, smallest offset size).
fn index_bytes(items: &[&[u8]]) -> Vec<u8> {
    let data_len: usize = items.iter().map(|i| i.len()).sum();
    let off_size: usize = match data_len + 1 {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    };
    let mut out = Vec::with_capacity(3 + (items.len() + 1) * off_size + data_len);
    out.extend_from_slice(&(items.len() as u16).to_be_bytes());
    if items.is_empty() {
        return out;
    }
    out.push(off_size as u8);
    let mut offset = 1usize;
    let push = |out: &mut Vec<u8>, v: usize| {
        out.extend_from_slice(&(v as u32).to_be_bytes()[4 - off_size..]);
    };
    push(&mut out, offset);
    for item in items {
        offset += item.len();
        push(&mut out, offset);
    }
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

/// The INDEX without its unused tail, as raw bytes; `None` when nothing would be saved.
fn trimmed(index: &MaybeOwnedIndex<'_>) -> Option<Vec<u8>> {
    let count = index.len();
    let items: Vec<&[u8]> = index.iter().collect();
    let used = items
        .iter()
        .rposition(|i| !i.is_empty())
        .map_or(0, |p| p + 1);
    let keep = used.max(bias_class_floor(count));
    (keep < count).then(|| index_bytes(&items[..keep]))
}

/// `Some(None)` when there is nothing to replace, `None` when the new INDEX does not parse.
fn read(bytes: &Option<Vec<u8>>) -> Option<Option<MaybeOwnedIndex<'_>>> {
    match bytes {
        None => Some(None),
        Some(b) => ReadScope::new(b)
            .read::<IndexU16>()
            .ok()
            .map(|i| Some(MaybeOwnedIndex::Borrowed(i))),
    }
}

/// `cff` with the unused tails of its subroutine INDEXes cut; `None` when it cannot be read
/// back or nothing changes (the caller then keeps the original program).
pub(crate) fn trim_subroutines(cff: &[u8]) -> Option<Vec<u8>> {
    let mut table = ReadScope::new(cff).read::<CFF<'_>>().ok()?;
    let global = trimmed(&table.global_subr_index);
    let locals: Vec<Option<Vec<u8>>> = table
        .fonts
        .iter()
        .flat_map(|font| match &font.data {
            CFFVariant::CID(cid) => cid
                .local_subr_indices
                .iter()
                .map(|i| i.as_ref().and_then(trimmed))
                .collect::<Vec<_>>(),
            CFFVariant::Type1(t1) => vec![t1.local_subr_index.as_ref().and_then(trimmed)],
        })
        .collect();
    if global.is_none() && locals.iter().all(Option::is_none) {
        return None;
    }
    if let Some(index) = read(&global)? {
        table.global_subr_index = index;
    }
    let mut new_locals = locals.iter();
    for font in &mut table.fonts {
        match &mut font.data {
            CFFVariant::CID(cid) => {
                for slot in &mut cid.local_subr_indices {
                    if let Some(index) = read(new_locals.next()?)? {
                        *slot = Some(index);
                    }
                }
            }
            CFFVariant::Type1(t1) => {
                if let Some(index) = read(new_locals.next()?)? {
                    t1.local_subr_index = Some(index);
                }
            }
        }
    }
    let mut buffer = WriteBuffer::new();
    CFF::write(&mut buffer, &table).ok()?;
    let out = buffer.into_inner();
    (out.len() < cff.len()).then_some(out)
}

/// The subroutines one glyph calls, directly or through other subroutines (indexes into
/// the global INDEX and into the local INDEX of the glyph's Font DICT), ascending.
#[derive(Debug, Default)]
struct Calls {
    global: Vec<u16>,
    local: Vec<u16>,
}

impl CharStringVisitor<f32, CFFError> for Calls {
    fn enter_subr(&mut self, index: SubroutineIndex) -> Result<(), CFFError> {
        let (list, i) = match index {
            SubroutineIndex::Local(i) => (&mut self.local, i),
            SubroutineIndex::Global(i) => (&mut self.global, i),
        };
        list.push(u16::try_from(i).map_err(|_| CFFError::InvalidSubroutineIndex)?);
        Ok(())
    }
}

/// A CID-keyed CFF font program from which each document cuts the glyphs it shows.
///
/// allsorts' subsetter (what printpdf calls on every save) first copies every glyph and
/// every subroutine of the face into owned buffers, and walks each kept glyph's charstring
/// to find the subroutines it calls: for the ~7,000-glyph print face that was most of a
/// page's font work. Here the walk is done once per glyph at load time, and a document's
/// program is assembled from borrowed slices: the kept charstrings, their CIDs (so the
/// codes printpdf wrote, which are CIDs, still name the same glyphs), their Font DICTs, and
/// the subroutine INDEXes with every entry no kept glyph calls emptied and the unused tail
/// cut (keeping the bias class, as [`trim_subroutines`] does).
pub(crate) struct CffCutter {
    program: Vec<u8>,
    /// How a document's charstrings are made.
    outlines: Outlines,
    /// `program` with every outline empty and no subroutines: the same glyph ids, CIDs
    /// and Font DICTs in a few kilobytes. printpdf is handed a face built on this (see
    /// `fonts::Cutting::stub`), so what it copies and parses on each save is small; the
    /// program it embeds is then replaced by [`CffCutter::cut`].
    stub: Vec<u8>,
}

impl CffCutter {
    /// `None` when `program` is not a single CID-keyed font or a charstring cannot be read
    /// (the caller then lets printpdf subset as before).
    pub(crate) fn new(program: Vec<u8>, advance: impl Fn(u16) -> u16) -> Option<CffCutter> {
        let table = ReadScope::new(&program).read::<CFF<'_>>().ok()?;
        let [font] = table.fonts.as_slice() else {
            return None;
        };
        if !matches!(font.data, CFFVariant::CID(_)) {
            return None;
        }
        let CFFVariant::CID(cid) = &font.data else {
            return None;
        };
        let outlines = match flatten_all(&table, font, cid, &advance) {
            Some(flat) => Outlines::Flat(flat),
            None => Outlines::Subrs(subroutine_calls(&table, font)?),
        };
        let glyphs = font.char_strings_index.len();
        drop(table);
        let stub = stub_program(&program, glyphs)?;
        Some(CffCutter {
            program,
            outlines,
            stub,
        })
    }

    /// The outline-free program printpdf embeds from the stub face.
    pub(crate) fn stub(&self) -> &[u8] {
        &self.stub
    }

    /// The program reduced to `gids` (plus .notdef), renumbered in ascending order with
    /// their CIDs kept. `None` when a glyph id is out of range.
    pub(crate) fn cut(&self, gids: &[u16]) -> Option<Vec<u8>> {
        let mut keep: Vec<u16> = std::iter::once(0).chain(gids.iter().copied()).collect();
        keep.sort_unstable();
        keep.dedup();
        // Everything new is built as raw bytes first, from a read of the program that ends
        // before the table that borrows them is read.
        let (strings, charset, fds, global, locals) = {
            let table = ReadScope::new(&self.program).read::<CFF<'_>>().ok()?;
            let font = table.fonts.first()?;
            let CFFVariant::CID(cid) = &font.data else {
                return None;
            };
            let mut items = Vec::with_capacity(keep.len());
            let mut charset = Vec::with_capacity(keep.len());
            let mut fds = Vec::with_capacity(keep.len());
            for &gid in &keep {
                if gid != 0 {
                    charset.push(font.charset.id_for_glyph(gid)?);
                }
                fds.push(cid.fd_select.font_dict_index(gid)?);
            }
            match &self.outlines {
                Outlines::Flat(flat) => {
                    for &gid in &keep {
                        items.push(flat.get(gid)?);
                    }
                    // No charstring calls a subroutine: every INDEX is empty.
                    let locals = cid
                        .local_subr_indices
                        .iter()
                        .map(|i| i.as_ref().map(|_| index_bytes(&[])))
                        .collect();
                    (index_bytes(&items), charset, fds, index_bytes(&[]), locals)
                }
                Outlines::Subrs(calls) => {
                    let mut used_global = vec![false; table.global_subr_index.len()];
                    let mut used_local: Vec<Vec<bool>> = cid
                        .local_subr_indices
                        .iter()
                        .map(|i| vec![false; i.as_ref().map_or(0, MaybeOwnedIndex::len)])
                        .collect();
                    for (&gid, &fd) in keep.iter().zip(&fds) {
                        items.push(font.char_strings_index.read_object(usize::from(gid))?);
                        let calls = calls.get(usize::from(gid))?;
                        for &i in &calls.global {
                            *used_global.get_mut(usize::from(i))? = true;
                        }
                        let local = used_local.get_mut(usize::from(fd))?;
                        for &i in &calls.local {
                            *local.get_mut(usize::from(i))? = true;
                        }
                    }
                    let locals: Vec<Option<Vec<u8>>> = cid
                        .local_subr_indices
                        .iter()
                        .zip(&used_local)
                        .map(|(index, used)| index.as_ref().map(|i| sparse(i, used)))
                        .collect();
                    (
                        index_bytes(&items),
                        charset,
                        fds,
                        sparse(&table.global_subr_index, &used_global),
                        locals,
                    )
                }
            }
        };
        let strings_index = index(&strings)?;
        let global_index = index(&global)?;
        let local_indexes: Vec<Option<MaybeOwnedIndex<'_>>> = locals
            .iter()
            .map(|l| match l {
                Some(bytes) => index(bytes).map(Some),
                None => Some(None),
            })
            .collect::<Option<_>>()?;
        let mut table = ReadScope::new(&self.program).read::<CFF<'_>>().ok()?;
        table.global_subr_index = global_index;
        let font = table.fonts.first_mut()?;
        font.char_strings_index = strings_index;
        font.charset = Charset::Custom(CustomCharset::Format0 {
            glyphs: ReadArrayCow::Owned(charset),
        });
        let CFFVariant::CID(cid) = &mut font.data else {
            return None;
        };
        cid.fd_select = FDSelect::Format0 {
            glyph_font_dict_indices: ReadArrayCow::Owned(fds),
        };
        cid.local_subr_indices = local_indexes;
        let mut buffer = WriteBuffer::new();
        CFF::write(&mut buffer, &table).ok()?;
        Some(buffer.into_inner())
    }
}

/// Where a document's charstrings come from.
enum Outlines {
    /// Each glyph's charstring with its subroutine calls expanded and its hints dropped
    /// ([`Flatten`]): a document's program needs no subroutine at all.
    Flat(FlatStrings),
    /// The face's own charstrings, with the subroutines each glyph calls (when a glyph
    /// could not be flattened).
    Subrs(Vec<Calls>),
}

/// Every glyph's flattened charstring, back to back.
struct FlatStrings {
    data: Vec<u8>,
    /// Start of glyph `i`'s charstring in `data`; one more entry than glyphs.
    starts: Vec<u32>,
}

impl FlatStrings {
    fn get(&self, gid: u16) -> Option<&[u8]> {
        let i = usize::from(gid);
        let start = usize::try_from(*self.starts.get(i)?).ok()?;
        let end = usize::try_from(*self.starts.get(i + 1)?).ok()?;
        self.data.get(start..end)
    }
}

/// Walks glyph `gid`'s charstring of `font` (subroutines followed) with `visitor`; `data` is
/// the operand stack's storage, reused across glyphs.
fn visit_glyph<'a, V: CharStringVisitor<f32, CFFError>>(
    table: &CFF<'a>,
    font: &allsorts::cff::Font<'a>,
    gid: u16,
    data: &mut [f32; MAX_OPERANDS],
    visitor: &mut V,
) -> Option<()> {
    let mut ctx = CharStringVisitorContext::new(
        gid,
        &font.char_strings_index,
        None,
        &table.global_subr_index,
        None,
    );
    let mut stack = ArgumentsStack {
        data,
        len: 0,
        max_len: MAX_OPERANDS,
    };
    ctx.visit(CFFFont::CFF(font), &mut stack, visitor).ok()
}

/// The subroutines each glyph of `font` calls.
fn subroutine_calls<'a>(table: &CFF<'a>, font: &allsorts::cff::Font<'a>) -> Option<Vec<Calls>> {
    let mut calls = Vec::with_capacity(font.char_strings_index.len());
    let mut data = [0.0f32; MAX_OPERANDS];
    for gid in 0..font.char_strings_index.len() {
        let mut found = Calls::default();
        visit_glyph(table, font, u16::try_from(gid).ok()?, &mut data, &mut found)?;
        for list in [&mut found.global, &mut found.local] {
            list.sort_unstable();
            list.dedup();
        }
        calls.push(found);
    }
    Some(calls)
}

/// Every glyph of `font` flattened ([`Flatten`]), its advance (`advance`, from the face's
/// hmtx, which is what the PDF's `/W` says) written as the charstring's width.
/// `None` when a glyph cannot be read or uses `seac`.
fn flatten_all<'a>(
    table: &CFF<'a>,
    font: &allsorts::cff::Font<'a>,
    cid: &allsorts::cff::CIDData<'a>,
    advance: &dyn Fn(u16) -> u16,
) -> Option<FlatStrings> {
    use allsorts::cff::Operator;
    let widths: Vec<(i32, i32)> = cid
        .private_dicts
        .iter()
        .map(|d| {
            let default = d.get_i32(Operator::DefaultWidthX).and_then(Result::ok);
            let nominal = d.get_i32(Operator::NominalWidthX).and_then(Result::ok);
            Some((default?, nominal?))
        })
        .collect::<Option<_>>()?;
    let glyphs = font.char_strings_index.len();
    let mut flat = FlatStrings {
        data: Vec::with_capacity(glyphs * 160),
        starts: Vec::with_capacity(glyphs + 1),
    };
    let mut data = [0.0f32; MAX_OPERANDS];
    for gid in 0..glyphs {
        let gid16 = u16::try_from(gid).ok()?;
        flat.starts.push(u32::try_from(flat.data.len()).ok()?);
        let fd = cid.fd_select.font_dict_index(gid16)?;
        let (default, nominal) = *widths.get(usize::from(fd))?;
        let advance = i32::from(advance(gid16));
        let mut visitor = Flatten {
            out: &mut flat.data,
            width: (advance != default).then_some(advance - nominal),
            failed: false,
        };
        visit_glyph(table, font, gid16, &mut data, &mut visitor)?;
        if visitor.failed {
            return None;
        }
    }
    flat.starts.push(u32::try_from(flat.data.len()).ok()?);
    Some(flat)
}

/// Writes a glyph's outline as one Type 2 charstring without subroutine calls and without
/// hints (hstem, vstem, hintmask, cntrmask and their operands). Hints only steer
/// rasterising at small pixel sizes on screen; a certificate is printed or viewed zoomed,
/// and in Noto CJK they are about a sixth of the outlines' bytes.
struct Flatten<'o> {
    out: &'o mut Vec<u8>,
    /// The width operand, written before the first operator that draws; `None` when the
    /// Private DICT's default width applies.
    width: Option<i32>,
    /// A construct this does not rewrite (`seac`, CFF2 operators).
    failed: bool,
}

impl Flatten<'_> {
    fn number(&mut self, v: f32) {
        let i = v as i32;
        if i as f32 == v {
            type2_int(self.out, i);
        } else {
            // 16.16 fixed.
            self.out.push(255);
            let fixed = (v * 65536.0).round() as i32;
            self.out.extend_from_slice(&fixed.to_be_bytes());
        }
    }
}

/// A Type 2 charstring integer in its shortest form (Technical Note #5177 §3.2).
fn type2_int(out: &mut Vec<u8>, v: i32) {
    match v {
        -107..=107 => out.push((v + 139) as u8),
        108..=1131 => {
            let w = v - 108;
            out.push((247 + (w >> 8)) as u8);
            out.push((w & 0xff) as u8);
        }
        -1131..=-108 => {
            let w = -v - 108;
            out.push((251 + (w >> 8)) as u8);
            out.push((w & 0xff) as u8);
        }
        _ => {
            // shortint: 28 and a 16-bit value (wider values do not occur in outlines).
            out.push(28);
            out.extend_from_slice(&(v as i16).to_be_bytes());
        }
    }
}

impl CharStringVisitor<f32, CFFError> for Flatten<'_> {
    fn visit(&mut self, op: VisitOp, stack: &ArgumentsStack<'_, f32>) -> Result<(), CFFError> {
        let code: &[u8] = match op {
            VisitOp::HorizontalStem
            | VisitOp::VerticalStem
            | VisitOp::HorizontalStemHintMask
            | VisitOp::VerticalStemHintMask
            | VisitOp::HintMask
            | VisitOp::CounterMask
            | VisitOp::Return => return Ok(()),
            VisitOp::VerticalMoveTo => &[4],
            VisitOp::LineTo => &[5],
            VisitOp::HorizontalLineTo => &[6],
            VisitOp::VerticalLineTo => &[7],
            VisitOp::CurveTo => &[8],
            VisitOp::Endchar => &[14],
            VisitOp::MoveTo => &[21],
            VisitOp::HorizontalMoveTo => &[22],
            VisitOp::CurveLine => &[24],
            VisitOp::LineCurve => &[25],
            VisitOp::VvCurveTo => &[26],
            VisitOp::HhCurveTo => &[27],
            VisitOp::VhCurveTo => &[30],
            VisitOp::HvCurveTo => &[31],
            VisitOp::Hflex => &[12, 34],
            VisitOp::Flex => &[12, 35],
            VisitOp::Hflex1 => &[12, 36],
            VisitOp::Flex1 => &[12, 37],
            VisitOp::VsIndex | VisitOp::Blend => {
                self.failed = true;
                return Ok(());
            }
        };
        // The first drawing operator (a moveto, or endchar for an empty glyph) carries
        // the width, as the first stack-clearing operator does (§3.1).
        if let Some(w) = self.width.take() {
            type2_int(self.out, w);
        }
        for &v in stack.all() {
            self.number(v);
        }
        self.out.extend_from_slice(code);
        Ok(())
    }

    fn enter_seac(
        &mut self,
        _seac: allsorts::cff::charstring::SeacChar,
        _dx: f32,
        _dy: f32,
    ) -> Result<(), CFFError> {
        self.failed = true;
        Ok(())
    }
}

/// `program` (of `glyphs` glyphs) with every charstring `endchar` and every subroutine
/// INDEX empty.
fn stub_program(program: &[u8], glyphs: usize) -> Option<Vec<u8>> {
    const ENDCHAR: &[u8] = &[14];
    let strings = index_bytes(&vec![ENDCHAR; glyphs]);
    let empty = index_bytes(&[]);
    let mut table = ReadScope::new(program).read::<CFF<'_>>().ok()?;
    table.global_subr_index = index(&empty)?;
    let font = table.fonts.first_mut()?;
    font.char_strings_index = index(&strings)?;
    let CFFVariant::CID(cid) = &mut font.data else {
        return None;
    };
    for slot in cid.local_subr_indices.iter_mut().flatten() {
        *slot = index(&empty)?;
    }
    let mut buffer = WriteBuffer::new();
    CFF::write(&mut buffer, &table).ok()?;
    Some(buffer.into_inner())
}

fn index(bytes: &[u8]) -> Option<MaybeOwnedIndex<'_>> {
    ReadScope::new(bytes)
        .read::<IndexU16>()
        .ok()
        .map(MaybeOwnedIndex::Borrowed)
}

/// `index` with the entries not marked `used` emptied and its unused tail cut, keeping the
/// subroutine bias of its original length.
fn sparse(index: &MaybeOwnedIndex<'_>, used: &[bool]) -> Vec<u8> {
    let count = index.len();
    let last = used.iter().rposition(|u| *u).map_or(0, |p| p + 1);
    let keep = last.max(bias_class_floor(count)).min(count);
    // Only the entries in use are read: most of a large INDEX is never looked at.
    let items: Vec<&[u8]> = (0..keep)
        .map(|i| match used.get(i) {
            Some(true) => index.read_object(i).unwrap_or_default(),
            _ => &[][..],
        })
        .collect();
    index_bytes(&items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bias_class_is_kept() {
        assert_eq!(bias_class_floor(429), 0);
        assert_eq!(bias_class_floor(1240), 1240);
        assert_eq!(bias_class_floor(28538), 1240);
        assert_eq!(bias_class_floor(33900), 33900);
    }

    #[test]
    fn index_bytes_read_back() {
        let items: Vec<&[u8]> = vec![b"", b"abc", b"", b"de"];
        let raw = index_bytes(&items);
        let index = ReadScope::new(&raw).read::<IndexU16>().expect("index");
        let index = MaybeOwnedIndex::Borrowed(index);
        assert_eq!(index.iter().collect::<Vec<_>>(), items);
        let empty = index_bytes(&[]);
        assert_eq!(empty, vec![0, 0]);
    }
}

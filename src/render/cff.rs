//! Shrinking the CFF font programs printpdf embeds. allsorts subsets a CID-keyed CFF by
//! emptying the subroutines no kept glyph calls, but keeps every entry so that the callers'
//! (biased) subroutine numbers stay valid: Noto CJK's main Local Subr INDEX has some 26 000
//! entries, so a page title of eight glyphs still carried 57 KB of offsets. Entries after
//! the last one in use can go, as long as the count stays in the same bias class (Type 2
//! charstrings, Technical Note #5177 §4.7: 107 below 1240 entries, 1131 below 33900, 32768
//! above), which keeps every call pointing at the same subroutine.

use allsorts::binary::read::ReadScope;
use allsorts::binary::write::{WriteBinary, WriteBuffer};
use allsorts::cff::{CFFVariant, IndexU16, MaybeOwnedIndex, CFF};

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

//! tlog-tiles paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, where N is
//! written in groups of three digits, all but the last prefixed with `x`.

/// Entries (and hashes) per full tile.
pub const WIDTH: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRef {
    /// None for an entry bundle, else the tile level (hashes of tree level 8 * L).
    pub level: Option<u8>,
    pub index: u64,
    /// 1..=256; 256 for a full tile.
    pub width: u64,
}

impl TileRef {
    /// The path after `tile/`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(l) => l.to_string(),
            None => "entries".to_string(),
        };
        let mut s = format!("{level}/{}", encode_index(self.index));
        if self.width < WIDTH {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parse the path after `tile/`.
    pub fn parse(path: &str) -> Option<TileRef> {
        let segments: Vec<&str> = path.split('/').collect();
        let (first, rest) = segments.split_first()?;
        let level = if *first == "entries" {
            None
        } else {
            let l: u8 = digits(first)?.parse().ok()?;
            (l < 8).then_some(l)?; // 8 levels of 8 bits cover 2^64 leaves
            Some(l)
        };
        let (rest, width) = match rest.split_last()? {
            (w, more) if more.last().is_some_and(|s| s.ends_with(".p")) => {
                (more, digits(w)?.parse::<u64>().ok()?)
            }
            _ => (rest, WIDTH),
        };
        if width == 0 || width > WIDTH {
            return None;
        }
        let mut index: u64 = 0;
        let n = rest.len();
        for (i, seg) in rest.iter().enumerate() {
            let seg = if i + 1 == n {
                seg.strip_suffix(".p").unwrap_or(seg)
            } else {
                seg.strip_prefix('x')?
            };
            if seg.len() != 3 {
                return None;
            }
            let d: u64 = digits(seg)?.parse().ok()?;
            index = index.checked_mul(1000)?.checked_add(d)?;
        }
        if n == 0 {
            return None;
        }
        let t = TileRef {
            level,
            index,
            width,
        };
        // Only the canonical spelling of a tile (one URL per tile, cacheable forever).
        (t.path() == path).then_some(t)
    }
}

fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// `1234067` -> `x001/x234/067`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// How many hashes of tile level `level` a tree of `size` leaves has.
pub fn hashes_at(level: u8, size: u64) -> u64 {
    size >> (8 * level as u32)
}

/// Does a tree of `size` leaves contain this tile (entries or hashes)?
pub fn within(t: &TileRef, size: u64) -> bool {
    let available = match t.level {
        None => size,
        Some(l) => hashes_at(l, size),
    };
    t.index
        .checked_mul(WIDTH)
        .and_then(|s| s.checked_add(t.width))
        .is_some_and(|end| end <= available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(5), "005");
        for (p, want) in [
            ("0/005", Some((Some(0), 5, 256))),
            ("1/x001/x234/067.p/8", Some((Some(1), 1234067, 8))),
            ("entries/000.p/1", Some((None, 0, 1))),
            ("entries/000", Some((None, 0, 256))),
            ("0/5", None),
            ("0/005.p/256", None),
            ("0/005.p/0", None),
            ("0/x000/005", None),
            ("9/000", None),
            ("0/005.p/08", None),
        ] {
            let got = TileRef::parse(p).map(|t| (t.level, t.index, t.width));
            assert_eq!(got, want, "{p}");
        }
        let t = TileRef::parse("0/000.p/3").unwrap();
        assert!(within(&t, 3));
        assert!(!within(&t, 2));
        let full = TileRef::parse("1/000").unwrap();
        assert!(within(&full, 65536));
        assert!(!within(&full, 65535));
    }
}

//! RFC 6962 / RFC 9162 Merkle tree hashing: leaf and node hashes, the hash of any range of
//! leaves from the stored hashes of complete subtrees, inclusion and consistency proofs, and
//! their verification. Pure functions; storage supplies the complete-subtree hashes.

use ring::digest::{Context, SHA256};

pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

pub fn sha256(data: &[u8]) -> Hash {
    let d = ring::digest::digest(&SHA256, data);
    let mut h = [0u8; 32];
    h.copy_from_slice(d.as_ref());
    h
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[0]);
    c.update(entry);
    finish(c)
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[1]);
    c.update(left);
    c.update(right);
    finish(c)
}

fn finish(c: Context) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(c.finish().as_ref());
    h
}

/// The largest power of two smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Where the hash of a complete subtree comes from: `level` 0 are leaf hashes, the node at
/// (`level`, `index`) covers leaves `index << level .. (index + 1) << level`.
pub trait HashReader {
    type Error;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// MTH(D[start:end]) from complete-subtree hashes (`start < end`).
pub fn range_hash<R: HashReader>(r: &mut R, start: u64, end: u64) -> Result<Hash, R::Error> {
    let n = end - start;
    if n.is_power_of_two() && start % n == 0 {
        return r.node(n.trailing_zeros() as u8, start >> n.trailing_zeros());
    }
    let k = split(n);
    let left = range_hash(r, start, start + k)?;
    let right = range_hash(r, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of a tree of `size` leaves.
pub fn root<R: HashReader>(r: &mut R, size: u64) -> Result<Hash, R::Error> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(r, 0, size)
    }
}

/// PATH(m, D[0:size]) of RFC 6962 §2.1.1 (`index < size`).
pub fn inclusion_proof<R: HashReader>(
    r: &mut R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, R::Error> {
    let mut out = Vec::new();
    path(r, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<R: HashReader>(
    r: &mut R,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), R::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(r, m, start, start + k, out)?;
        out.push(range_hash(r, start + k, end)?);
    } else {
        path(r, m - k, start + k, end, out)?;
        out.push(range_hash(r, start, start + k)?);
    }
    Ok(())
}

/// PROOF(m, D[0:size]) of RFC 6962 §2.1.2 (`0 < old <= size`; empty when equal).
pub fn consistency_proof<R: HashReader>(
    r: &mut R,
    old: u64,
    size: u64,
) -> Result<Vec<Hash>, R::Error> {
    let mut out = Vec::new();
    if old > 0 && old < size {
        subproof(r, old, 0, size, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<R: HashReader>(
    r: &mut R,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), R::Error> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(range_hash(r, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(r, m, start, start + k, complete, out)?;
        out.push(range_hash(r, start + k, end)?);
    } else {
        subproof(r, m - k, start + k, end, false, out)?;
        out.push(range_hash(r, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `proof` put `leaf` at `index` of the tree `(size, root)`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: is the tree `(size, root)` an extension of `(old, old_root)`?
pub fn verify_consistency(
    old: u64,
    old_root: &Hash,
    size: u64,
    root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > size {
        return false;
    }
    if old == size {
        return proof.is_empty() && old_root == root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old - 1, size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *root && s == 0
}

/// Complete-subtree hashes of an in-memory list of leaf hashes (tests, the monitor).
pub struct MemoryTree {
    /// `levels[l][i]`: the node at level l, index i (complete subtrees only).
    pub levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree {
            levels: vec![Vec::new()],
        }
    }

    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Append a leaf hash and every complete subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len() % 2 == 0 {
            let n = self.levels[level].len();
            let parent = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    pub fn root(&mut self) -> Hash {
        let size = self.size();
        match root(self, size) {
            Ok(h) => h,
            Err(never) => match never {},
        }
    }
}

impl Default for MemoryTree {
    fn default() -> Self {
        MemoryTree::new()
    }
}

impl HashReader for MemoryTree {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        // Callers only ask for complete subtrees below the size they know.
        Ok(self
            .levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .unwrap_or([0; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 definitions, written directly over the leaf list (no stored hashes).
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = split(d.len() as u64) as usize;
        if m < k {
            let mut p = ref_path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    fn tree(d: &[Hash]) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in d {
            t.push(*l);
        }
        t
    }

    #[test]
    fn rfc6962_empty_and_known_roots() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The certificate-transparency-go test vectors: leaves "", 0x00, 0x10, 0x2021,
        // 0x3031, 0x40414243, 0x5051525354555657, 0x606162...6f.
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut t = MemoryTree::new();
        for (input, want) in inputs.iter().zip(roots) {
            t.push(leaf_hash(input));
            assert_eq!(hex::encode(t.root()), want, "size {}", t.size());
        }
    }

    #[test]
    fn roots_and_proofs_match_the_definitions() {
        for n in 1..=40usize {
            let d = leaves(n);
            let mut t = tree(&d);
            let root = t.root();
            assert_eq!(root, mth(&d), "root of {n}");
            for m in 0..n {
                let p = inclusion_proof(&mut t, m as u64, n as u64).unwrap();
                assert_eq!(p, ref_path(m, &d), "path {m} of {n}");
                assert!(verify_inclusion(&d[m], m as u64, n as u64, &p, &root));
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(&d[m], m as u64, n as u64, &bad, &root));
                }
                if n > 1 {
                    let other = (m + 1) % n;
                    assert!(!verify_inclusion(&d[other], m as u64, n as u64, &p, &root));
                }
            }
            for old in 1..=n {
                let old_root = mth(&d[..old]);
                let p = consistency_proof(&mut t, old as u64, n as u64).unwrap();
                assert!(
                    verify_consistency(old as u64, &old_root, n as u64, &root, &p),
                    "consistency {old} -> {n}"
                );
                if old < n {
                    let forged = leaf_hash(b"forged");
                    assert!(!verify_consistency(
                        old as u64, &forged, n as u64, &root, &p
                    ));
                    assert!(!verify_consistency(
                        old as u64, &old_root, n as u64, &forged, &p
                    ));
                }
            }
        }
    }
}

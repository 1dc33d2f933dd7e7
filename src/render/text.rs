//! Line breaking and fitting for CJK text. Chinese has no spaces, so lines break between any
//! two characters; the only rule kept is the basic kinsoku one (no line starts with closing
//! punctuation), which every printed certificate follows. Sizes are in millimetres.

/// Characters that must not start a line (closing punctuation, Chinese and Latin).
const NO_LINE_START: &[char] = &[
    '，', '。', '、', '；', '：', '！', '？', '）', '》', '」', '』', '”', '’', '】', '〕', '…',
    ',', '.', ';', ':', '!', '?', ')', ']',
];

/// Text set in a box: the chosen size and its lines, top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fitted {
    pub size_mm: f32,
    pub leading_mm: f32,
    pub lines: Vec<String>,
    /// True when even the smallest size did not fit and the tail was cut (marked with …).
    pub truncated: bool,
}

/// How to look for a size: start at `max_mm`, step down by `step_mm` to `min_mm`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeRange {
    pub max_mm: f32,
    pub min_mm: f32,
    pub step_mm: f32,
    /// Line pitch as a multiple of the size.
    pub leading: f32,
}

impl SizeRange {
    pub(crate) fn new(max_mm: f32, min_mm: f32) -> SizeRange {
        let min_mm = min_mm.min(max_mm);
        SizeRange {
            max_mm,
            min_mm,
            step_mm: ((max_mm - min_mm) / 24.0).max(0.05),
            leading: 1.35,
        }
    }

    fn sizes(&self) -> impl Iterator<Item = f32> + '_ {
        let steps = ((self.max_mm - self.min_mm) / self.step_mm).ceil().max(0.0) as usize;
        (0..=steps).map(move |i| (self.max_mm - i as f32 * self.step_mm).max(self.min_mm))
    }
}

/// Break `chars` (with their advances in em) into lines no wider than `width_em`.
/// Explicit newlines are kept. Returns byte-free char index ranges to keep this cheap: the
/// fitting loop calls it once per candidate size on up to ~1000 characters.
pub(crate) fn break_lines(chars: &[char], advances: &[f32], width_em: f32) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut width = 0.0f32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            lines.push((start, i));
            start = i + 1;
            width = 0.0;
            i += 1;
            continue;
        }
        let adv = advances[i];
        if width + adv > width_em && i > start {
            let mut end = i;
            // Keep closing punctuation on the line it closes: pull one character down
            // with it instead, as long as the line keeps at least one character.
            if NO_LINE_START.contains(&c) && end - start > 1 {
                end -= 1;
            }
            lines.push((start, end));
            start = end;
            width = advances[start..i].iter().sum();
            continue;
        }
        width += adv;
        i += 1;
    }
    if start < chars.len() || lines.is_empty() {
        lines.push((start, chars.len()));
    }
    lines
}

/// Fit `text` into a `width_mm` x `height_mm` box: the largest size in `range` at which the
/// wrapped lines fit. At the smallest size, lines that do not fit are dropped and the last
/// kept line ends in an ellipsis, so nothing is ever drawn outside the box.
pub(crate) fn fit(
    text: &str,
    advance_em: impl Fn(char) -> f32,
    width_mm: f32,
    height_mm: f32,
    range: SizeRange,
) -> Fitted {
    let chars: Vec<char> = text.chars().filter(|c| *c != '\r').collect();
    let advances: Vec<f32> = chars.iter().map(|c| advance_em(*c)).collect();
    let widest = advances.iter().copied().fold(0.0f32, f32::max);
    let mut last = None;
    for size in range.sizes() {
        let leading = size * range.leading;
        if widest * size > width_mm + 1e-3 {
            // One character alone would stick out of the box: smaller.
            last = Some((size, leading, Vec::new()));
            continue;
        }
        let lines = break_lines(&chars, &advances, width_mm / size);
        // The last line needs only the glyph height, not a full line pitch.
        let needed = (lines.len() as f32 - 1.0) * leading + size;
        if needed <= height_mm + 1e-3 {
            return Fitted {
                size_mm: size,
                leading_mm: leading,
                lines: collect(&chars, &lines),
                truncated: false,
            };
        }
        last = Some((size, leading, lines));
    }
    let (size, leading, lines) = match last {
        Some(v) => v,
        None => (range.min_mm, range.min_mm * range.leading, Vec::new()),
    };
    let room = if height_mm >= size {
        ((height_mm - size) / leading).floor() as usize + 1
    } else {
        0
    };
    let mut kept = collect(&chars, &lines[..room.min(lines.len())]);
    if let Some(last_line) = kept.last_mut() {
        let ellipsis = '…';
        let budget = width_mm / size - advance_em(ellipsis);
        let mut w = 0.0;
        let cut: String = last_line
            .chars()
            .take_while(|c| {
                w += advance_em(*c);
                w <= budget
            })
            .collect();
        *last_line = format!("{cut}{ellipsis}");
    }
    Fitted {
        size_mm: size,
        leading_mm: leading,
        lines: kept,
        truncated: true,
    }
}

/// Several texts stacked in one box (a layout's long-text block), all at one size so they
/// read as one section, each taking at least `min_block_mm` (its label's height).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stack {
    pub size_mm: f32,
    pub leading_mm: f32,
    pub gap_mm: f32,
    pub blocks: Vec<Vec<String>>,
    pub truncated: bool,
}

pub(crate) fn fit_stack(
    texts: &[&str],
    advance_em: impl Fn(char) -> f32,
    width_mm: f32,
    height_mm: f32,
    min_block_mm: f32,
    range: SizeRange,
) -> Stack {
    let prepared: Vec<(Vec<char>, Vec<f32>)> = texts
        .iter()
        .map(|t| {
            let chars: Vec<char> = t.chars().filter(|c| *c != '\r').collect();
            let adv = chars.iter().map(|c| advance_em(*c)).collect();
            (chars, adv)
        })
        .collect();
    let mut smallest = None;
    for size in range.sizes() {
        let leading = size * range.leading;
        let gap = size * 0.5;
        let lines: Vec<Vec<(usize, usize)>> = prepared
            .iter()
            .map(|(c, a)| break_lines(c, a, width_mm / size))
            .collect();
        let total: f32 = lines
            .iter()
            .map(|l| (l.len() as f32 * leading).max(min_block_mm))
            .sum::<f32>()
            + gap * (texts.len().saturating_sub(1)) as f32;
        if total <= height_mm + 1e-3 {
            return Stack {
                size_mm: size,
                leading_mm: leading,
                gap_mm: gap,
                blocks: prepared
                    .iter()
                    .zip(&lines)
                    .map(|((c, _), l)| collect(c, l))
                    .collect(),
                truncated: false,
            };
        }
        smallest = Some((size, leading, gap, lines));
    }
    let (size, leading, gap, lines) = match smallest {
        Some(v) => v,
        None => (range.min_mm, range.min_mm * range.leading, 0.0, Vec::new()),
    };
    // Even the smallest size overflows: keep what fits, in order, and mark the cut.
    let mut used = 0.0;
    let mut blocks = Vec::new();
    for ((chars, _), l) in prepared.iter().zip(&lines) {
        let remaining = height_mm - used;
        if remaining < min_block_mm.max(leading) {
            break;
        }
        let rows = ((remaining / leading).floor() as usize).min(l.len());
        let mut kept = collect(chars, &l[..rows]);
        if rows < l.len() {
            if let Some(last) = kept.last_mut() {
                let budget = width_mm / size - advance_em('…');
                let mut w = 0.0;
                let cut: String = last
                    .chars()
                    .take_while(|c| {
                        w += advance_em(*c);
                        w <= budget
                    })
                    .collect();
                *last = format!("{cut}…");
            }
            blocks.push(kept);
            break;
        }
        used += (rows as f32 * leading).max(min_block_mm) + gap;
        blocks.push(kept);
    }
    Stack {
        size_mm: size,
        leading_mm: leading,
        gap_mm: gap,
        blocks,
        truncated: true,
    }
}

fn collect(chars: &[char], ranges: &[(usize, usize)]) -> Vec<String> {
    ranges
        .iter()
        .map(|(s, e)| chars[*s..*e].iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cjk_width(c: char) -> f32 {
        if c.is_ascii() {
            0.5
        } else {
            1.0
        }
    }

    #[test]
    fn breaks_between_any_two_cjk_characters() {
        let chars: Vec<char> = "一二三四五六七".chars().collect();
        let adv: Vec<f32> = chars.iter().map(|c| cjk_width(*c)).collect();
        assert_eq!(break_lines(&chars, &adv, 3.0), vec![(0, 3), (3, 6), (6, 7)]);
    }

    #[test]
    fn closing_punctuation_never_starts_a_line() {
        let chars: Vec<char> = "一二三，四五".chars().collect();
        let adv: Vec<f32> = chars.iter().map(|c| cjk_width(*c)).collect();
        let lines = break_lines(&chars, &adv, 3.0);
        for (s, _) in &lines {
            assert!(!NO_LINE_START.contains(&chars[*s]), "{lines:?}");
        }
        assert_eq!(lines[0], (0, 2));
    }

    #[test]
    fn long_text_shrinks_until_it_fits() {
        let text = "经营范围".repeat(200);
        let f = fit(&text, cjk_width, 100.0, 60.0, SizeRange::new(5.0, 1.5));
        assert!(!f.truncated);
        assert!(f.size_mm < 5.0);
        let height = (f.lines.len() as f32 - 1.0) * f.leading_mm + f.size_mm;
        assert!(height <= 60.0 + 1e-3);
        assert_eq!(f.lines.concat(), text);
        for line in &f.lines {
            let w: f32 = line.chars().map(cjk_width).sum::<f32>() * f.size_mm;
            assert!(w <= 100.0 + 1e-3, "line {w} mm wide");
        }
    }

    #[test]
    fn text_that_cannot_fit_is_cut_with_an_ellipsis_inside_the_box() {
        let text = "字".repeat(5000);
        let f = fit(&text, cjk_width, 50.0, 10.0, SizeRange::new(4.0, 2.0));
        assert!(f.truncated);
        let height = (f.lines.len() as f32 - 1.0) * f.leading_mm + f.size_mm;
        assert!(height <= 10.0 + 1e-3);
        assert!(f.lines.last().is_some_and(|l| l.ends_with('…')));
        let last_w: f32 = f
            .lines
            .last()
            .map_or(0.0, |l| l.chars().map(cjk_width).sum());
        assert!(last_w * f.size_mm <= 50.0 + 1e-3);
    }

    #[test]
    fn stacked_texts_share_one_size_and_stay_inside() {
        let a = "甲".repeat(900);
        let b = "乙".repeat(40);
        let st = fit_stack(
            &[&a, &b],
            cjk_width,
            200.0,
            80.0,
            4.0,
            SizeRange::new(5.0, 1.5),
        );
        assert!(!st.truncated);
        let total: f32 = st
            .blocks
            .iter()
            .map(|l| (l.len() as f32 * st.leading_mm).max(4.0))
            .sum::<f32>()
            + st.gap_mm;
        assert!(total <= 80.0 + 1e-3, "{total}");
        assert_eq!(st.blocks[0].concat(), a);
        assert_eq!(st.blocks[1].concat(), b);
        let cut = fit_stack(
            &[&a, &b],
            cjk_width,
            50.0,
            20.0,
            4.0,
            SizeRange::new(5.0, 1.5),
        );
        assert!(cut.truncated);
        let kept: usize = cut.blocks.iter().map(Vec::len).sum();
        assert!(kept as f32 * cut.leading_mm <= 20.0 + 1e-3);
    }

    #[test]
    fn short_text_keeps_the_largest_size() {
        let f = fit("张三", cjk_width, 50.0, 10.0, SizeRange::new(4.0, 2.0));
        assert_eq!(f.size_mm, 4.0);
        assert_eq!(f.lines, vec!["张三".to_string()]);
    }
}

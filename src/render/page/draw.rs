//! Drawing each block by its role: the frame and watermark, title, copy mark, numbers,
//! holder, field rows, long texts, issuer and serial.

use super::*;

impl PageCtx<'_> {
    pub(super) fn record(&mut self, kind: PlacedKind, bbox: BoxMm, text: &str) {
        let role = self.role;
        if let Some(placed) = self.placed.as_mut() {
            placed.push(Placed {
                kind,
                role,
                bbox,
                text: text.to_string(),
            });
        }
    }

    /// A run of text with its baseline starting at (x, baseline); its em box is recorded.
    pub(super) fn put(&mut self, ink: Ink, size: f32, x: f32, baseline: f32, text: &str) {
        let (face, id) = match ink {
            Ink::Body => (self.body, &self.ids.body),
            Ink::Title => (self.title, &self.ids.title),
        };
        self.canvas.text(id, size, x, baseline, text, ink_colour());
        if self.placed.is_some() {
            let w = face.width_em(text) * size;
            let bbox = BoxMm::new(x, baseline - ASCENT * size, w, size);
            self.record(PlacedKind::Text, bbox, text);
        }
    }

    pub(super) fn watermark(&mut self, w: f32, h: f32) {
        let text = "样本 SPECIMEN";
        let angle = (h / w).atan();
        let diagonal = (w * w + h * h).sqrt();
        let size = (diagonal * 0.6 / self.body.width_em(text)).min(h * 0.16);
        let len = self.body.width_em(text) * size;
        // Centre the run on the page's centre along the diagonal; the glyph box's middle
        // sits 0.38 em above the baseline.
        let (s, c) = angle.sin_cos();
        let mid_up = 0.38 * size;
        let x = w / 2.0 - c * len / 2.0 + s * mid_up;
        let y = h / 2.0 + s * len / 2.0 + c * mid_up;
        self.canvas.text_rotated(
            &self.ids.body,
            size,
            (x, y),
            angle.to_degrees(),
            text,
            watermark_colour(),
        );
    }

    pub(super) fn title_block(&mut self, b: &Block, title: &str, title_en: &str) {
        let chars: Vec<char> = title.chars().collect();
        let n = chars.len().max(1) as f32;
        let has_en = !title_en.trim().is_empty();
        let zh_h = if has_en { b.h_mm * 0.7 } else { b.h_mm };
        let natural = self.title.width_em(title);
        // Wide letter-spacing for short titles (营 业 执 照), tighter as they grow.
        let spacing_em = if chars.len() <= 6 { 0.6 } else { 0.15 };
        let width_em = natural + spacing_em * (n - 1.0);
        let size = (zh_h * 0.8).min(b.w_mm / width_em).min(b.w_mm / natural);
        let spacing = ((b.w_mm - natural * size) / (n - 1.0).max(1.0))
            .min(spacing_em * size)
            .max(0.0);
        let total = natural * size + spacing * (n - 1.0);
        let mut x = b.x_mm + (b.w_mm - total) / 2.0;
        let baseline = b.y_mm + (zh_h - size) / 2.0 + ASCENT * size;
        for c in &chars {
            let s = c.to_string();
            self.put(Ink::Title, size, x, baseline, &s);
            x += self.title.advance_em(*c) * size + spacing;
        }
        if has_en {
            let en_box_h = b.h_mm - zh_h;
            let size = (en_box_h * 0.75).min(b.w_mm / self.body.width_em(title_en).max(0.1));
            let y = b.y_mm + zh_h + (en_box_h - size) / 2.0 + ASCENT * size;
            let w = self.body.width_em(title_en) * size;
            let x = b.x_mm + (b.w_mm - w) / 2.0;
            self.put(Ink::Body, size, x, y, title_en);
        }
    }

    pub(super) fn copy_mark(&mut self, b: &Block, copy: CopyKind, mode: RenderMode) {
        let marking = match mode {
            RenderMode::Specimen => Some("样本 SPECIMEN"),
            RenderMode::Electronic => Some("电子证照"),
            RenderMode::Print => None,
        };
        let label = match copy {
            CopyKind::Original => "正　本",
            CopyKind::Duplicate => "副　本",
        };
        let label_h = if marking.is_some() {
            b.h_mm * 0.6
        } else {
            b.h_mm
        };
        let label_box = Rect::new(b.x_mm, b.y_mm, b.w_mm, label_h);
        self.single_line(&label_box, label, 0.8, Align::Centre, true);
        if let Some(marking) = marking {
            let mbox = Rect::new(b.x_mm, b.y_mm + label_h, b.w_mm, b.h_mm - label_h);
            self.single_line(&mbox, marking, 0.7, Align::Centre, false);
        }
    }

    pub(super) fn numbers(&mut self, b: &Block, view: &CertificateView, base: f32) {
        let rows = [
            (LICENCE_NO_LABEL, view.licence_no),
            (IDENTIFIER_LABEL, view.identifier),
        ];
        // Reference numbers, not the certificate's content: a step below the body size.
        let size = (b.h_mm / 2.0 * NUMBERS_FILL).min(base * NUMBERS_STEP);
        // An identifier broken over two lines is hard to type back: one line each, and both
        // rows at the size the longer one needs.
        self.labelled_rows(b, &rows, size, 1.0, Wrap::Never);
    }

    pub(super) fn holder(&mut self, b: &Block, view: &CertificateView, base: f32) {
        let rows = [
            (view.holder_name_label, view.holder_name),
            (view.holder_code_label, view.holder_code),
        ];
        let size = (b.h_mm / 2.0 * HOLDER_FILL).min(base * 1.1).max(base);
        self.labelled_rows(b, &rows, size, 1.5, Wrap::AsNeeded);
    }

    /// Two label/value rows sharing the block's height, labels aligned, every label and value
    /// at one size: the largest at which each value fits its row.
    pub(super) fn labelled_rows(
        &mut self,
        b: &Block,
        rows: &[(&str, &str)],
        size: f32,
        label_gap_em: f32,
        wrap: Wrap,
    ) {
        let row_h = b.h_mm / rows.len().max(1) as f32;
        let label_w = |size: f32, body: &Face| {
            rows.iter()
                .map(|(l, _)| body.width_em(l) * size)
                .fold(0.0, f32::max)
                + size * label_gap_em
        };
        let body = self.body;
        let size = rows
            .iter()
            .map(|(_, v)| {
                let value_w = (b.w_mm - label_w(size, body)).max(size);
                fitted_size(body, v, value_w, row_h, size, wrap)
            })
            .fold(size, f32::min);
        let lw = label_w(size, body);
        for (i, (label, value)) in rows.iter().enumerate() {
            let row = Rect::new(b.x_mm, b.y_mm + row_h * i as f32, b.w_mm, row_h);
            self.labelled(&row, label, value, lw, size, wrap);
        }
    }

    /// The grid in `b` (already sized by [`Flow`] to `rows` rows).
    pub(super) fn fields(&mut self, b: &Block, fields: &[(&str, &str)], base: f32, rows: usize) {
        if fields.is_empty() {
            return;
        }
        let (cols, _) = grid_dims(b, fields.len());
        let rows = rows.max(fields.len().div_ceil(cols));
        let cell_w = b.w_mm / cols as f32;
        let cell_h = b.h_mm / rows as f32;
        // More fields than the layout planned: rows got lower, so does the text. Then one
        // size for the whole grid, the largest at which every value fits its cell: a long
        // address makes the grid smaller, never one cell's text alone.
        let start = base.min(cell_h * 0.5);
        let body = self.body;
        let label_w_at = |size: f32, col: usize| {
            fields
                .iter()
                .skip(col)
                .step_by(cols)
                .map(|(l, _)| body.width_em(l) * size)
                .fold(0.0, f32::max)
                .min(cell_w * 0.45)
                + size * 1.2
        };
        let size = fields
            .iter()
            .enumerate()
            .map(|(i, (_, v))| {
                let value_w = (cell_w - start * 0.8 - label_w_at(start, i % cols)).max(start);
                fitted_size(body, v, value_w, cell_h, start, Wrap::AsNeeded)
            })
            .fold(start, f32::min);
        for col in 0..cols {
            let label_w = label_w_at(size, col);
            for (row, (label, value)) in fields.iter().skip(col).step_by(cols).enumerate() {
                let cell = Rect::new(
                    b.x_mm + cell_w * col as f32,
                    b.y_mm + cell_h * row as f32,
                    cell_w - size * 0.8,
                    cell_h,
                );
                self.labelled(&cell, label, value, label_w, size, Wrap::AsNeeded);
            }
        }
    }

    pub(super) fn long_texts(&mut self, b: &Block, texts: &[(&str, &str)], base: f32) {
        if texts.is_empty() {
            return;
        }
        let label_size = base;
        let label_w = texts
            .iter()
            .map(|(l, _)| self.body.width_em(l) * label_size)
            .fold(0.0, f32::max)
            .min(b.w_mm * 0.3)
            + label_size * 1.2;
        let text_w = b.w_mm - label_w;
        let values: Vec<&str> = texts.iter().map(|(_, v)| *v).collect();
        let body = self.body;
        let stack = text::fit_stack(
            &values,
            |c| body.advance_em(c),
            text_w,
            b.h_mm,
            label_size * 1.35,
            SizeRange::new(base, 1.6),
        );
        let mut y = b.y_mm;
        for ((label, _), lines) in texts.iter().zip(&stack.blocks) {
            let label_box = Rect::new(b.x_mm, y, label_w - label_size * 1.2, label_size);
            let label_size_now = label_size.min(b.y_mm + b.h_mm - y);
            if label_size_now > 0.5 {
                self.justified_label(&label_box, label, label_size_now);
            }
            // First text line shares the label's top edge.
            let mut baseline = y + ASCENT * stack.size_mm;
            for line in lines {
                self.put(Ink::Body, stack.size_mm, b.x_mm + label_w, baseline, line);
                baseline += stack.leading_mm;
            }
            let used = (lines.len().max(1) as f32) * stack.leading_mm;
            y += used.max(label_size * 1.35) + stack.gap_mm;
        }
    }

    pub(super) fn issuer(&mut self, b: &Block, view: &CertificateView) {
        let date = format!(
            "{}年{:02}月{:02}日",
            chrono::Datelike::year(&view.issued_on),
            chrono::Datelike::month(&view.issued_on),
            chrono::Datelike::day(&view.issued_on)
        );
        let validity = format!("{VALIDITY_LABEL}：{}", view.validity);
        let lines = [validity.as_str(), view.authority_name, date.as_str()];
        let row_h = b.h_mm / lines.len() as f32;
        for (i, line) in lines.iter().enumerate() {
            let row = Rect::new(b.x_mm, b.y_mm + row_h * i as f32, b.w_mm, row_h);
            self.single_line(&row, line, 0.55, Align::Centre, false);
        }
    }

    pub(super) fn serial(&mut self, b: &Block, serial: &str) {
        let text = format!("No. {serial}");
        self.single_line(
            &Rect::new(b.x_mm, b.y_mm, b.w_mm, b.h_mm),
            &text,
            0.7,
            Align::Right,
            false,
        );
    }

    /// One line, as large as `fill` of the box height allows, shrunk to the box width.
    pub(super) fn single_line(
        &mut self,
        r: &Rect,
        text: &str,
        fill: f32,
        align: Align,
        title: bool,
    ) {
        let face = if title { self.title } else { self.body };
        let width_em = face.width_em(text).max(0.01);
        let size = (r.h * fill).min(r.w / width_em);
        let w = width_em * size;
        let x = match align {
            Align::Centre => r.x + (r.w - w) / 2.0,
            Align::Right => r.x + r.w - w,
        };
        let baseline = r.y + (r.h - size) / 2.0 + ASCENT * size;
        let ink = if title { Ink::Title } else { Ink::Body };
        self.put(ink, size, x, baseline, text);
    }

    /// A label spread to the label column's width (名　　称 / 统一社会信用代码 line up, as on
    /// the printed forms), then its value fitted into the rest of the row.
    pub(super) fn labelled(
        &mut self,
        row: &Rect,
        label: &str,
        value: &str,
        label_w: f32,
        size: f32,
        wrap: Wrap,
    ) {
        let gap = size * 0.6;
        let label_box = Rect::new(row.x, row.y, (label_w - gap).max(size), size);
        let value_w = (row.w - label_w).max(size);
        let body = self.body;
        let height = match wrap {
            Wrap::AsNeeded => row.h * 0.92,
            // Room for exactly one line at any size in the range.
            Wrap::Never => size.min(row.h),
        };
        let fitted = text::fit(
            value,
            |c| body.advance_em(c),
            value_w,
            height,
            SizeRange::new(size, size * 0.3),
        );
        let lines = fitted.lines.len().max(1) as f32;
        let block_h = (lines - 1.0) * fitted.leading_mm + fitted.size_mm;
        let top = row.y + (row.h - block_h.max(size)) / 2.0;
        // Label and the value's first line share a baseline.
        let label_top = top + (fitted.size_mm - size).max(0.0) * ASCENT;
        let label_box = Rect {
            y: label_top,
            ..label_box
        };
        self.justified_label(&label_box, label, size.min(row.h));
        let mut baseline = top + ASCENT * fitted.size_mm;
        for line in &fitted.lines {
            self.put(Ink::Body, fitted.size_mm, row.x + label_w, baseline, line);
            baseline += fitted.leading_mm;
        }
    }

    pub(super) fn justified_label(&mut self, r: &Rect, label: &str, size: f32) {
        let chars: Vec<char> = label.chars().collect();
        let natural = self.body.width_em(label) * size;
        let size = if natural > r.w {
            size * r.w / natural
        } else {
            size
        };
        let natural = self.body.width_em(label) * size;
        let baseline = r.y + ASCENT * size;
        if chars.len() < 2 || natural >= r.w {
            self.put(Ink::Body, size, r.x, baseline, label);
            return;
        }
        let spacing = (r.w - natural) / (chars.len() - 1) as f32;
        let mut x = r.x;
        let mut run = String::new();
        for c in chars {
            run.clear();
            run.push(c);
            self.put(Ink::Body, size, x, baseline, &run);
            x += self.body.advance_em(c) * size + spacing;
        }
    }
}

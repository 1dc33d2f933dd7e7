//! Planning a page: the sizes that fit every block (one body size for the whole page, the
//! grid of field rows), then drawing it or listing what it places.

use super::*;

impl Plan {
    pub(crate) fn new(fonts: &Fonts, view: &CertificateView) -> Result<Plan, RenderError> {
        let layout = view.layout;
        if !(layout.width_mm > 0.0 && layout.height_mm > 0.0) {
            return Err(RenderError::EmptyPage {
                layout: layout.id.clone(),
            });
        }
        for block in layout.blocks.iter().filter(|b| b.role == BlockRole::Qr) {
            let side = block.w_mm.min(block.h_mm);
            if side + 1e-3 < MIN_QR_MM {
                return Err(RenderError::QrBlockTooSmall {
                    layout: layout.id.clone(),
                    width_mm: side,
                });
            }
        }
        let mut body_text: Vec<&str> = vec![
            view.holder_name_label,
            view.holder_name,
            view.holder_code_label,
            view.holder_code,
            view.validity,
            view.authority_name,
            view.licence_no,
            view.identifier,
            VALIDITY_LABEL,
            LICENCE_NO_LABEL,
            IDENTIFIER_LABEL,
            "0123456789年月日正本副本电子证照样本SPECIMEN…No.",
            view.title_en,
        ];
        for (l, v) in view.fields.iter().chain(view.long_texts) {
            body_text.push(l);
            body_text.push(v);
        }
        let mut missing: String = body_text
            .iter()
            .flat_map(|t| t.chars())
            .filter(|c| !fonts.body.has_glyph(*c))
            .collect();
        if let Some(serials) = view.serials {
            missing.extend(
                serials
                    .iter()
                    .flat_map(|s| s.chars())
                    .filter(|c| !fonts.body.has_glyph(*c)),
            );
        }
        let title_in_title_face = view.title.chars().all(|c| fonts.title_face().has_glyph(c));
        if !title_in_title_face {
            missing.extend(view.title.chars().filter(|c| !fonts.body.has_glyph(*c)));
        }
        if !missing.is_empty() {
            let mut chars: Vec<char> = missing.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            return Err(RenderError::MissingGlyphs {
                chars: chars.into_iter().collect(),
            });
        }
        Ok(Plan {
            title_uses_title_face: title_in_title_face && fonts.title.is_some(),
        })
    }

    pub(crate) fn page(
        &self,
        fonts: &Fonts,
        ids: &FontIds,
        view: &CertificateView,
        copy: CopyKind,
        serial: Option<&str>,
        qr: &QrRuns,
    ) -> PdfPage {
        let layout = view.layout;
        let (ops, _) = self.draw(fonts, ids, view, copy, serial, qr, false);
        PdfPage::new(Mm(layout.width_mm), Mm(layout.height_mm), ops)
    }

    /// What [`Plan::page`] places on the page, without the PDF.
    pub(crate) fn geometry(
        &self,
        fonts: &Fonts,
        ids: &FontIds,
        view: &CertificateView,
        copy: CopyKind,
        serial: Option<&str>,
        qr: &QrRuns,
    ) -> PageGeometry {
        let layout = view.layout;
        let (_, placed) = self.draw(fonts, ids, view, copy, serial, qr, true);
        PageGeometry {
            width_mm: layout.width_mm,
            height_mm: layout.height_mm,
            frame_inner: frame_lines(layout.width_mm, layout.height_mm).1,
            placed: placed.unwrap_or_default(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn draw(
        &self,
        fonts: &Fonts,
        ids: &FontIds,
        view: &CertificateView,
        copy: CopyKind,
        serial: Option<&str>,
        qr: &QrRuns,
        record: bool,
    ) -> (Vec<printpdf::Op>, Option<Vec<Placed>>) {
        let layout = view.layout;
        let mut p = PageCtx {
            canvas: Canvas::new(layout.height_mm),
            body: &fonts.body,
            title: if self.title_uses_title_face {
                fonts.title_face()
            } else {
                &fonts.body
            },
            ids,
            placed: record.then(Vec::new),
            role: BlockRole::Title,
        };
        if view.mode == RenderMode::Specimen {
            p.watermark(layout.width_mm, layout.height_mm);
        }
        // Drawn once per process and page size (`artwork::add_frame`).
        p.canvas.ops.push(printpdf::Op::UseXobject {
            id: printpdf::XObjectId(super::super::artwork::FRAME_XOBJECT.to_string()),
            transform: printpdf::XObjectTransform::default(),
        });

        let flow = Flow::new(view);
        let base = flow.base;
        // The seal goes on top of the issuer text and the QR last, so that nothing covers
        // either of them; the rest keeps the layout's order.
        let mut blocks: Vec<&Block> = layout.blocks.iter().collect();
        blocks.sort_by_key(|b| match b.role {
            BlockRole::Seal => 1,
            BlockRole::Qr => 2,
            _ => 0,
        });
        for block in blocks {
            p.role = block.role;
            match block.role {
                BlockRole::Title => p.title_block(block, view.title, view.title_en),
                BlockRole::CopyMark => p.copy_mark(block, copy, view.mode),
                BlockRole::Numbers => p.numbers(block, view, base),
                BlockRole::Holder => p.holder(block, view, base),
                BlockRole::Fields => {
                    let b = flow.fields_block(block);
                    p.fields(&b, view.fields, base, flow.rows)
                }
                BlockRole::LongText => {
                    let b = flow.long_text_block(block);
                    p.long_texts(&b, view.long_texts, base)
                }
                BlockRole::Issuer => p.issuer(block, view),
                BlockRole::Seal => {
                    let r = block.w_mm.min(block.h_mm) / 2.0;
                    let (cx, cy) = (block.x_mm + block.w_mm / 2.0, block.y_mm + block.h_mm / 2.0);
                    p.record(
                        PlacedKind::Seal,
                        BoxMm::new(cx - r, cy - r, 2.0 * r, 2.0 * r),
                        "",
                    );
                    seal::draw(
                        &mut p.canvas,
                        p.body,
                        &p.ids.body,
                        cx,
                        cy,
                        r,
                        view.authority_name,
                    );
                }
                BlockRole::Qr => {
                    let side = block.w_mm.min(block.h_mm);
                    let x = block.x_mm + (block.w_mm - side) / 2.0;
                    let y = block.y_mm + (block.h_mm - side) / 2.0;
                    qr::draw(&mut p.canvas, qr, x, y, side);
                    p.record(PlacedKind::Qr, BoxMm::new(x, y, side, side), "");
                }
                BlockRole::Serial => {
                    if let Some(serial) = serial {
                        p.serial(block, serial);
                    }
                }
            }
        }
        (p.canvas.ops, p.placed)
    }
}

//! Renders a [`Receipt`] to PDF with printpdf's built-in Helvetica (no font embedding, so
//! rendering is cheap and the text is extractable with `pdftotext`).

use crate::domain::receipt::Receipt;
use printpdf::{
    BuiltinFont, CustomPdfConformance, IndirectFontRef, Mm, PdfConformance, PdfDocument,
    PdfLayerReference,
};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
const LINE: f32 = 6.0;

#[derive(Debug, thiserror::Error)]
#[error("rendering the receipt PDF failed: {0}")]
pub struct RenderError(String);

struct Writer {
    doc: printpdf::PdfDocumentReference,
    layer: PdfLayerReference,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    y: f32,
    page: usize,
}

impl Writer {
    fn ensure_room(&mut self) {
        if self.y < MARGIN + LINE {
            self.page += 1;
            let (p, l) = self
                .doc
                .add_page(Mm(PAGE_W), Mm(PAGE_H), format!("Page {}", self.page));
            self.layer = self.doc.get_page(p).get_layer(l);
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, s: &str, size: f32, bold: bool) {
        let font = if bold { &self.bold } else { &self.regular };
        self.layer
            .use_text(latin1(s), size, Mm(x), Mm(self.y), font);
    }

    fn next_line(&mut self, gap: f32) {
        self.y -= gap;
        self.ensure_room();
    }
}

/// Built-in PDF fonts use WinAnsi encoding: characters outside Latin-1 become `?`.
fn latin1(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (c as u32) < 0x100 && !c.is_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Renders the receipt; deterministic apart from the PDF's internal ids and dates.
pub fn render(receipt: &Receipt) -> Result<Vec<u8>, RenderError> {
    let err = |e: printpdf::Error| RenderError(e.to_string());
    let (doc, page, layer) = PdfDocument::new(&receipt.title, Mm(PAGE_W), Mm(PAGE_H), "Page 1");
    // Plain PDF: no ICC profile or XMP packet, which PDF/A would embed in every receipt.
    let doc = doc.with_conformance(PdfConformance::Custom(CustomPdfConformance {
        requires_icc_profile: false,
        requires_xmp_metadata: false,
        ..Default::default()
    }));
    let regular = doc.add_builtin_font(BuiltinFont::Helvetica).map_err(err)?;
    let bold = doc
        .add_builtin_font(BuiltinFont::HelveticaBold)
        .map_err(err)?;
    let layer = doc.get_page(page).get_layer(layer);
    let mut w = Writer {
        doc,
        layer,
        regular,
        bold,
        y: PAGE_H - MARGIN,
        page: 1,
    };

    w.text(MARGIN, &receipt.title, 18.0, true);
    w.next_line(LINE * 2.0);
    for h in &receipt.header {
        w.text(MARGIN, h, 10.0, false);
        w.next_line(LINE);
    }
    w.next_line(LINE);
    w.text(MARGIN, "Item", 10.0, true);
    w.text(115.0, "Qty x Unit price", 10.0, true);
    w.text(165.0, "Amount", 10.0, true);
    w.next_line(LINE);
    for (desc, qty, amount) in &receipt.rows {
        let desc: String = desc.chars().take(55).collect();
        w.text(MARGIN, &desc, 10.0, false);
        w.text(115.0, qty, 10.0, false);
        w.text(165.0, amount, 10.0, false);
        w.next_line(LINE);
    }
    w.next_line(LINE);
    w.text(MARGIN, &receipt.total, 12.0, true);
    w.next_line(LINE * 2.0);
    for f in &receipt.footer {
        w.text(MARGIN, f, 10.0, false);
        w.next_line(LINE);
    }
    w.doc.save_to_bytes().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(rows: usize) -> Receipt {
        Receipt {
            title: "Shop - Receipt".into(),
            header: vec!["Order: ord_1".into(), "Customer: Zoë".into()],
            rows: (0..rows)
                .map(|i| {
                    (
                        format!("Item {i}"),
                        "1 x 1.00 USD".into(),
                        "1.00 USD".into(),
                    )
                })
                .collect(),
            total: "Total: 1.00 USD".into(),
            footer: vec!["Thanks".into()],
        }
    }

    #[test]
    fn renders_a_pdf() {
        let pdf = render(&receipt(5)).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() > 500);
    }

    #[test]
    fn long_receipts_span_pages() {
        let one = render(&receipt(5)).unwrap();
        let many = render(&receipt(50)).unwrap();
        let count = |b: &[u8]| {
            b.windows(10)
                .filter(|w| w == b"/Type /Page" || w.starts_with(b"/Type/Page"))
                .count()
        };
        assert!(count(&many) > count(&one), "50 lines need a second page");
    }

    #[test]
    fn non_latin_text_is_replaced_not_fatal() {
        assert_eq!(latin1("Zoë 日本"), "Zoë ??");
    }
}

//! Renders a [`Receipt`] to PDF with printpdf's built-in Helvetica (no font embedding, so
//! rendering is cheap and the text is extractable with `pdftotext`).

use crate::domain::receipt::Receipt;
use printpdf::{
    BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
const LINE: f32 = 6.0;

#[derive(Debug, thiserror::Error)]
#[error("rendering the receipt PDF failed: {0}")]
pub struct RenderError(String);

/// The pages written so far and the operations of the current one.
struct Writer {
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    y: f32,
}

impl Writer {
    fn ensure_room(&mut self) {
        if self.y < MARGIN + LINE {
            self.finish_page();
            self.y = PAGE_H - MARGIN;
        }
    }

    fn finish_page(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops));
    }

    fn text(&mut self, x: f32, s: &str, size: f32, bold: bool) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(self.y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(latin1(s))],
            },
            Op::EndTextSection,
        ]);
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
    // The default conformance is a plain PDF: no ICC profile or XMP packet.
    let mut w = Writer {
        pages: Vec::new(),
        ops: Vec::new(),
        y: PAGE_H - MARGIN,
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
    w.finish_page();
    let mut doc = PdfDocument::new(&receipt.title);
    doc.with_pages(w.pages);
    let mut warnings = Vec::new();
    let pdf = doc.save(&PdfSaveOptions::default(), &mut warnings);
    if pdf.starts_with(b"%PDF-") {
        Ok(pdf)
    } else {
        Err(RenderError(format!("no PDF written: {warnings:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::MAX_LINES;

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
        let many = render(&receipt(MAX_LINES)).unwrap();
        let count = |b: &[u8]| {
            b.windows(10)
                .filter(|w| w == b"/Type /Page" || w.starts_with(b"/Type/Page"))
                .count()
        };
        assert!(
            count(&many) > count(&one),
            "a full order needs a second page"
        );
    }

    /// Built-in Helvetica with WinAnsi encoding: Latin-1 text reads back as written (checked
    /// with poppler's `pdftotext` where it is installed).
    #[test]
    fn the_text_reads_back_with_pdftotext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt.pdf");
        std::fs::write(&path, render(&receipt(5)).unwrap()).unwrap();
        let Ok(out) = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
        else {
            eprintln!("pdftotext is not installed: text not checked");
            return;
        };
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for want in [
            "Shop - Receipt",
            "Customer: Zoë",
            "Item 4",
            "Total: 1.00 USD",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
    }

    #[test]
    fn non_latin_text_is_replaced_not_fatal() {
        assert_eq!(latin1("Zoë 日本"), "Zoë ??");
    }
}

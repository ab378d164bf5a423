//! Real files for the upload and import tests, built in memory: zip archives, spreadsheets a
//! careless or hostile integrator might send, and images.

use std::io::{Cursor, Write};

/// A zip archive of `(name, bytes)` entries (deflated).
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        w.write_all(data).expect("zip data");
    }
    w.finish().expect("zip").into_inner()
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

/// An XLSX package whose first sheet has the rows `rows` yields, each row already written as
/// `<row …>…</row>` XML, streamed into the deflated sheet part (never held whole).
pub fn xlsx_with_rows(dimension: &str, rows: impl Iterator<Item = String>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_level(Some(1));
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        w.start_file(name, opts).expect("part");
        w.write_all(text.as_bytes()).expect("part");
    }
    w.start_file("xl/worksheets/sheet1.xml", opts)
        .expect("sheet");
    write!(
        w,
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>"#
    )
    .expect("sheet");
    for r in rows {
        w.write_all(r.as_bytes()).expect("row");
    }
    w.write_all(b"</sheetData></worksheet>").expect("sheet");
    w.finish().expect("xlsx").into_inner()
}

fn inline(cell: &str, text: &str) -> String {
    format!(r#"<c r="{cell}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// The 1.6 KB workbook that used to abort the server: cells A1 and XFD1048576 only.
pub fn sparse_xlsx() -> Vec<u8> {
    xlsx_with_rows(
        "A1:XFD1048576",
        [
            format!(r#"<row r="1">{}</row>"#, inline("A1", "考生号")),
            format!(r#"<row r="1048576">{}</row>"#, inline("XFD1048576", "x")),
        ]
        .into_iter(),
    )
}

/// The roster header row, then `n` identical data rows without cell references (as some
/// writers emit them): millions of rows in a few MB.
pub fn many_rows_xlsx(n: usize) -> Vec<u8> {
    let header = [
        "考生号",
        "姓名",
        "身份证号",
        "学历",
        "培养方式",
        "院系",
        "专业",
        "届别",
    ];
    let cols = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let head: String = header
        .iter()
        .zip(cols)
        .map(|(h, c)| inline(&format!("{c}1"), h))
        .collect();
    let row = r#"<row><c t="inlineStr"><is><t>26320102159999</t></is></c></row>"#.to_string();
    xlsx_with_rows(
        &format!("A1:H{}", n + 1),
        std::iter::once(format!(r#"<row r="1">{head}</row>"#)).chain(std::iter::repeat_n(row, n)),
    )
}

/// `xlsx` with the declared inflated size of part `name` changed to `size` in both its local
/// and its central header (a bomb's signature: what it would inflate to).
pub fn declare_size(mut xlsx: Vec<u8>, name: &str, size: u32) -> Vec<u8> {
    let patch = |buf: &mut Vec<u8>, sig: &[u8], name_at: usize, len_at: usize, size_at: usize| {
        let mut i = 0;
        while i + name_at < buf.len() {
            if buf[i..].starts_with(sig) {
                let len = u16::from_le_bytes([buf[i + len_at], buf[i + len_at + 1]]) as usize;
                if buf.get(i + name_at..i + name_at + len) == Some(name.as_bytes()) {
                    buf[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
                }
            }
            i += 1;
        }
    };
    patch(&mut xlsx, b"PK\x03\x04", 30, 26, 22);
    patch(&mut xlsx, b"PK\x01\x02", 46, 28, 24);
    xlsx
}

/// A valid PNG of `w`×`h` white pixels, encoded row by row (a 12000×12000 one is about 400 KB).
pub fn plain_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("png header");
        let mut stream = writer.stream_writer().expect("png stream");
        let row = vec![255u8; w as usize];
        for _ in 0..h {
            stream.write_all(&row).expect("png row");
        }
        stream.finish().expect("png end");
    }
    out
}

/// A cell of [`workbook_xlsx`].
pub enum XCell<'a> {
    Text(&'a str),
    /// A number cell (what Excel stores for anything typed into a "General" cell that looks
    /// like a number).
    Number(f64),
    /// A date cell: the serial in the workbook's date system, styled as a date.
    Date(f64),
}

/// An XLSX workbook as Excel writes one: shared styles with a date format, the date system
/// (`date1904` — Excel for Mac's older default), and one sheet of `rows`.
pub fn workbook_xlsx(date1904: bool, rows: &[Vec<XCell<'_>>]) -> Vec<u8> {
    let content_types = CONTENT_TYPES.replace(
        "</Types>",
        r#"<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#,
    );
    let workbook = WORKBOOK.replace(
        "<sheets>",
        if date1904 {
            r#"<workbookPr date1904="1"/><sheets>"#
        } else {
            "<workbookPr/><sheets>"
        },
    );
    let rels = WORKBOOK_RELS.replace(
        "</Relationships>",
        r#"<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#,
    );
    let styles = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (i, row) in rows.iter().enumerate() {
        let r = i + 1;
        sheet.push_str(&format!(r#"<row r="{r}">"#));
        for (j, cell) in row.iter().enumerate() {
            let at = format!("{}{r}", (b'A' + j as u8) as char);
            sheet.push_str(&match cell {
                XCell::Text(t) => inline(&at, t),
                XCell::Number(n) => format!(r#"<c r="{at}"><v>{n}</v></c>"#),
                XCell::Date(n) => format!(r#"<c r="{at}" s="1"><v>{n}</v></c>"#),
            });
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    zip_of(&[
        ("[Content_Types].xml", content_types.as_bytes()),
        ("_rels/.rels", ROOT_RELS.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/styles.xml", styles.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

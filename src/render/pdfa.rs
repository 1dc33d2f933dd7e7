//! PDF/A-3b (ISO 19005-3) for the electronic licence: XMP metadata with the PDF/A
//! identification, an sRGB output intent, a document information dictionary that agrees with
//! the XMP, and embedded files associated with the document (`/AF`) with their relationship.
//! The fonts are already embedded (subset) by the renderer; nothing is encrypted and nothing
//! refers outside the file.

use chrono::{DateTime, NaiveDate, Utc};
use lopdf::{Dictionary, Object, Stream, StringFormat};

use super::RenderError;

/// The output intent's profile: a compact ICC v2 display sRGB profile (616 bytes, see
/// `assets/icc/README.md`).
pub const SRGB_ICC: &[u8] = include_bytes!("../../assets/icc/sRGB-compact.icc");

/// A file carried inside the document (ISO 32000-2 §7.11.4, PDF/A-3 §6.8).
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// e.g. `seal.cose`
    pub name: &'a str,
    /// e.g. `application/cose`
    pub mime: &'a str,
    pub description: &'a str,
    /// `Source`, `Data`, `Alternative`, `Supplement` or `Unspecified`.
    pub relationship: &'a str,
    pub bytes: &'a [u8],
    pub modified: DateTime<Utc>,
}

/// What the document says about itself: the same in the information dictionary and the XMP.
#[derive(Debug, Clone, Copy)]
pub struct Description<'a> {
    pub title: &'a str,
    /// The document's creation and modification date (the date of issue: deterministic).
    pub date: NaiveDate,
}

/// `D:YYYYMMDDHHmmSS+00'00'` (ISO 32000 §7.9.4).
pub fn pdf_date(t: DateTime<Utc>) -> String {
    t.format("D:%Y%m%d%H%M%S+00'00'").to_string()
}

fn xmp_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// A PDF text string: ASCII as a literal, anything else as UTF-16BE with its byte order mark.
pub fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xfe, 0xff];
        bytes.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// The XMP packet: PDF/A-3 conformance B, and the title, tool, producer and dates of the
/// information dictionary (PDF/A-3 §6.6.2.3: the two must agree).
pub fn xmp_packet(d: &Description) -> String {
    let date = xmp_date(d.date.and_time(chrono::NaiveTime::MIN).and_utc());
    let title = xml_escape(d.title);
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n\
 <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
  <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n\
   <pdfaid:part>3</pdfaid:part>\n\
   <pdfaid:conformance>B</pdfaid:conformance>\n\
  </rdf:Description>\n\
  <rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
   <dc:format>application/pdf</dc:format>\n\
   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{title}</rdf:li></rdf:Alt></dc:title>\n\
  </rdf:Description>\n\
  <rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\">\n\
   <xmp:CreatorTool>crosscert</xmp:CreatorTool>\n\
   <xmp:CreateDate>{date}</xmp:CreateDate>\n\
   <xmp:ModifyDate>{date}</xmp:ModifyDate>\n\
  </rdf:Description>\n\
  <rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n\
   <pdf:Producer>crosscert</pdf:Producer>\n\
  </rdf:Description>\n\
 </rdf:RDF>\n\
</x:xmpmeta>\n\
<?xpacket end=\"w\"?>"
    )
}

/// Make the document PDF/A-3b and attach `attachments` to it.
pub fn apply(
    doc: &mut lopdf::Document,
    d: &Description,
    attachments: &[Attachment],
) -> Result<(), RenderError> {
    // Transparency (the seal multiplies), embedded files and /AF need PDF 1.7 semantics.
    doc.version = "1.7".to_string();

    let date = pdf_date(d.date.and_time(chrono::NaiveTime::MIN).and_utc());
    let info = Dictionary::from_iter(vec![
        ("Title", text_string(d.title)),
        ("Creator", text_string("crosscert")),
        ("Producer", text_string("crosscert")),
        ("CreationDate", Object::string_literal(date.clone())),
        ("ModDate", Object::string_literal(date)),
    ]);
    let info_id = doc.add_object(info);
    doc.trailer.set("Info", Object::Reference(info_id));

    let mut xmp = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"Metadata".to_vec())),
            ("Subtype", Object::Name(b"XML".to_vec())),
        ]),
        xmp_packet(d).into_bytes(),
    );
    // Left readable for any tool that scans for the packet.
    xmp.allows_compression = false;
    let xmp_id = doc.add_object(xmp);

    let icc = Stream::new(
        Dictionary::from_iter(vec![("N", Object::Integer(3))]),
        SRGB_ICC.to_vec(),
    );
    let icc_id = doc.add_object(icc);
    let intent = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"OutputIntent".to_vec())),
        ("S", Object::Name(b"GTS_PDFA1".to_vec())),
        (
            "OutputConditionIdentifier",
            Object::string_literal("sRGB IEC61966-2.1"),
        ),
        (
            "RegistryName",
            Object::string_literal("http://www.color.org"),
        ),
        ("Info", Object::string_literal("sRGB IEC61966-2.1")),
        ("DestOutputProfile", Object::Reference(icc_id)),
    ]);

    let mut names = Vec::new();
    let mut af = Vec::new();
    let mut sorted: Vec<&Attachment> = attachments.iter().collect();
    // A name tree's keys are sorted.
    sorted.sort_by_key(|a| a.name);
    for a in sorted {
        let spec_id = embed(doc, a);
        names.push(text_string(a.name));
        names.push(Object::Reference(spec_id));
        af.push(Object::Reference(spec_id));
    }

    let catalog = doc.catalog_mut().map_err(|_| RenderError::Trailer)?;
    catalog.set("Metadata", Object::Reference(xmp_id));
    catalog.set("OutputIntents", Object::Array(vec![intent.into()]));
    if !af.is_empty() {
        catalog.set(
            "Names",
            Dictionary::from_iter(vec![(
                "EmbeddedFiles",
                Object::Dictionary(Dictionary::from_iter(vec![("Names", Object::Array(names))])),
            )]),
        );
        catalog.set("AF", Object::Array(af));
    }
    Ok(())
}

/// The embedded file stream and its file specification; returns the specification's id.
fn embed(doc: &mut lopdf::Document, a: &Attachment) -> lopdf::ObjectId {
    let mut file = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"EmbeddedFile".to_vec())),
            ("Subtype", Object::Name(a.mime.as_bytes().to_vec())),
            (
                "Params",
                Object::Dictionary(Dictionary::from_iter(vec![
                    ("Size", Object::Integer(a.bytes.len() as i64)),
                    ("ModDate", Object::string_literal(pdf_date(a.modified))),
                ])),
            ),
        ]),
        a.bytes.to_vec(),
    );
    // Stored as is: small, and readable by any tool without inflating.
    file.allows_compression = false;
    let file_id = doc.add_object(file);
    let spec = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Filespec".to_vec())),
        ("F", text_string(a.name)),
        ("UF", text_string(a.name)),
        ("Desc", text_string(a.description)),
        (
            "AFRelationship",
            Object::Name(a.relationship.as_bytes().to_vec()),
        ),
        (
            "EF",
            Object::Dictionary(Dictionary::from_iter(vec![
                ("F", Object::Reference(file_id)),
                ("UF", Object::Reference(file_id)),
            ])),
        ),
    ]);
    doc.add_object(spec)
}

/// The files embedded in a PDF, by name: `(name, relationship, bytes)`. For checking a
/// document (tests, `crosscert verify --pdf`); streams are decoded when filtered.
pub fn embedded_files(doc: &lopdf::Document) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(catalog) = doc.catalog() else {
        return out;
    };
    let Ok(af) = catalog
        .get(b"AF")
        .and_then(|o| deref(doc, o))
        .and_then(Object::as_array)
    else {
        return out;
    };
    for spec in af {
        let Ok(spec) = deref(doc, spec).and_then(Object::as_dict) else {
            continue;
        };
        let name = spec
            .get(b"UF")
            .or_else(|_| spec.get(b"F"))
            .and_then(Object::as_str)
            .map(decode_text)
            .unwrap_or_default();
        let relationship = spec
            .get(b"AFRelationship")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let Ok(stream) = spec
            .get(b"EF")
            .and_then(Object::as_dict)
            .and_then(|ef| ef.get(b"F"))
            .and_then(|o| deref(doc, o))
            .and_then(Object::as_stream)
        else {
            continue;
        };
        let bytes = stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone());
        out.push((name, relationship, bytes));
    }
    out
}

fn deref<'a>(doc: &'a lopdf::Document, o: &'a Object) -> lopdf::Result<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id),
        other => Ok(other),
    }
}

/// A PDF text string's value: UTF-16BE after a byte order mark, else PDFDocEncoding (read as
/// Latin-1, exact for ASCII).
pub fn decode_text(bytes: &[u8]) -> String {
    match bytes.strip_prefix(&[0xfe, 0xff]) {
        Some(rest) => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        None => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

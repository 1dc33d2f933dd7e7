//! The QR text (docs/architecture.md, "Licences"): upper-cased public URL + `/V/` + Base32 (RFC 4648, no padding) of
//! the COSE bytes. Base32 keeps the whole text inside QR alphanumeric mode and, unlike Base45,
//! never puts spaces or `%` into a URL that a phone camera opens.

use data_encoding::BASE32_NOPAD;

use super::envelope::EnvelopeError;

/// The text to put into the QR code for `cose`, under the configured public URL.
pub fn qr_text(public_url: &str, cose: &[u8]) -> String {
    let base = public_url.trim_end_matches('/').to_uppercase();
    let mut text = String::with_capacity(base.len() + 3 + cose.len() * 8 / 5 + 1);
    text.push_str(&base);
    text.push_str("/V/");
    text.push_str(&BASE32_NOPAD.encode(cose));
    text
}

/// The COSE bytes of a scanned or typed code: `<any URL>/V/<BASE32>` (or `/v/`), or a bare
/// Base32 string, in either case. The URL part is not checked: a verifier trusts the
/// signature, not the host name printed next to it.
pub fn decode_qr_text(text: &str) -> Result<Vec<u8>, EnvelopeError> {
    let text = text.trim();
    // The last `/V/` wins: a public URL may itself contain a `/v/` path segment.
    let payload = match text.to_ascii_uppercase().rfind("/V/") {
        Some(i) => &text[i + 3..],
        None => text,
    };
    if payload.is_empty() {
        return Err(EnvelopeError::BadEncoding);
    }
    let upper = payload.to_ascii_uppercase();
    BASE32_NOPAD
        .decode(upper.as_bytes())
        .map_err(|_| EnvelopeError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_url_and_bare_forms_in_any_case() {
        let cose = [0xd2u8, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0x00, 0x40];
        let text = qr_text("https://verify.example.cn/", &cose);
        assert!(text.starts_with("HTTPS://VERIFY.EXAMPLE.CN/V/"));
        assert!(!text.contains('='));
        assert_eq!(decode_qr_text(&text), Ok(cose.to_vec()));
        assert_eq!(decode_qr_text(&text.to_lowercase()), Ok(cose.to_vec()));
        let bare = BASE32_NOPAD.encode(&cose);
        assert_eq!(decode_qr_text(&bare), Ok(cose.to_vec()));
        assert_eq!(decode_qr_text(&bare.to_lowercase()), Ok(cose.to_vec()));
        assert_eq!(
            decode_qr_text(&format!("http://127.0.0.1:8080/v/{bare}\n")),
            Ok(cose.to_vec())
        );
    }

    #[test]
    fn refuses_what_is_not_base32() {
        assert_eq!(decode_qr_text(""), Err(EnvelopeError::BadEncoding));
        assert_eq!(
            decode_qr_text("HTTPS://X/V/"),
            Err(EnvelopeError::BadEncoding)
        );
        assert_eq!(
            decode_qr_text("HTTPS://X/V/AB$D"),
            Err(EnvelopeError::BadEncoding)
        );
        assert_eq!(decode_qr_text("MZXW6==="), Err(EnvelopeError::BadEncoding));
        assert_eq!(
            decode_qr_text("https://x/y/MZXW6"),
            Err(EnvelopeError::BadEncoding)
        );
    }
}

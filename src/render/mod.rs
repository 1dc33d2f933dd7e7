//! PDF (printpdf) and QR (qrcode) drawing of certificates. No database.

#!/bin/sh
# Debian packages the renderer and its tests need: CJK fonts (fonts-noto-cjk), pdftotext and
# pdftoppm (poppler-utils), zbarimg (zbar-tools); the web pages' browser tests need headless
# Chromium and its WebDriver (chromium, chromium-driver); backup and restore on PostgreSQL need
# pg_dump and pg_restore (postgresql-client); the fault-injection suite runs on python3; the
# signer keys' PKCS#11 token in tests, the bench and the local production-like set-up is
# SoftHSM2 (softhsm2), inspected with pkcs11-tool (opensc); the independent status-list decoder
# test reads CBOR with python3-cbor2; the independent transparency-log checker verifies Ed25519
# with python3-cryptography; the signed electronic licence is checked by poppler's pdfsig
# (poppler-utils) against an NSS database made with certutil (libnss3-tools), and by
# qpdf --check (qpdf). Installs only what is missing; safe to rerun.
set -eu

missing=""
for pkg in fonts-noto-cjk poppler-utils zbar-tools chromium chromium-driver postgresql-client python3 softhsm2 opensc python3-cbor2 python3-cryptography qpdf libnss3-tools; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

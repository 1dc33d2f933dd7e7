#!/usr/bin/env python3
"""Independent checker of crosscert's transparency log (not the project's code).

Fetches BASE/log/checkpoint, verifies the log's Ed25519 signature (C2SP signed-note) and the
witnesses' cosignatures (C2SP tlog-cosignature v1), fetches every entry tile
(C2SP tlog-tiles) and recomputes the RFC 6962 root. Prints a JSON summary; exit 1 on failure.

usage: check_tlog.py BASE LOG_VKEY QUORUM [WITNESS_VKEY ...]
"""
import base64
import hashlib
import json
import struct
import sys
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def parse_vkey(vkey):
    name, key_id, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    alg, pub = raw[0], raw[1:]
    want = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]
    assert want.hex() == key_id, f"key id of {name}"
    return name, want, alg, Ed25519PublicKey.from_public_bytes(pub)


def verified(body, sigs, vkey):
    name, key_id, alg, pub = parse_vkey(vkey)
    for sig_name, raw in sigs:
        if sig_name != name or raw[:4] != key_id:
            continue
        try:
            if alg == 0x01:
                pub.verify(raw[4:], body)
            elif alg == 0x04:
                (ts,) = struct.unpack(">Q", raw[4:12])
                msg = b"cosignature/v1\ntime %d\n" % ts + body
                pub.verify(raw[12:], msg)
            else:
                continue
            return True
        except InvalidSignature:
            pass
    return False


def mth(leaves):
    """RFC 6962 Merkle tree hash over leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def tile_path(n):
    groups = ["%03d" % (n % 1000)]
    n //= 1000
    while n:
        groups.append("x%03d" % (n % 1000))
        n //= 1000
    return "/".join(reversed(groups))


def main():
    base, log_vkey, quorum = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
    witnesses = sys.argv[4:]
    note = fetch(base + "/log/checkpoint")
    body, _, sig_block = note.partition(b"\n\n")
    body += b"\n"
    sigs = []
    for line in sig_block.decode().splitlines():
        dash, name, b64 = line.split(" ")
        assert dash == "\u2014"
        sigs.append((name, base64.b64decode(b64)))
    origin, size, root = body.decode().split("\n")[:3]
    size, root = int(size), base64.b64decode(root)
    if not verified(body, sigs, log_vkey) or origin != parse_vkey(log_vkey)[0]:
        sys.exit("the checkpoint is not signed by the log")
    cosigned = sum(1 for w in witnesses if verified(body, sigs, w))
    if cosigned < quorum:
        sys.exit(f"{cosigned} cosignatures, {quorum} required")
    leaves, entries = [], []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        path = tile_path(n) + ("" if width == 256 else f".p/{width}")
        data = fetch(f"{base}/log/tile/entries/{path}")
        while data:
            (length,) = struct.unpack(">H", data[:2])
            entry = data[2 : 2 + length]
            data = data[2 + length :]
            entries.append(entry.decode())
            leaves.append(hashlib.sha256(b"\x00" + entry).digest())
    if len(leaves) != size:
        sys.exit(f"{len(leaves)} entries for a tree of {size}")
    computed = mth(leaves) if leaves else hashlib.sha256(b"").digest()
    if computed != root:
        sys.exit("the entries do not hash to the checkpoint's root")
    print(json.dumps({"size": size, "cosignatures": cosigned, "entries": entries}))


if __name__ == "__main__":
    main()

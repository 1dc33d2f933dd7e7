#!/usr/bin/python3
"""An independent reader of a crosscert status list (draft-ietf-oauth-status-list, CWT form).

Uses only a general CBOR library (Debian's python3-cbor2) and zlib, none of crosscert's code:
reads the COSE_Sign1 from the file given, checks the protected header's typ, inflates the
list and prints JSON {"sub", "iat", "exp", "ttl", "bits", "entries", "set": {idx: status}}
with every non-zero status. The signature is not checked here (the Rust tests do that);
this script checks that the bytes mean what the draft says they mean.
"""
import json
import sys
import zlib

import cbor2


def main(path):
    with open(path, "rb") as f:
        outer = cbor2.loads(f.read())
    if isinstance(outer, cbor2.CBORTag):
        assert outer.tag == 18, f"CBOR tag {outer.tag}, expected 18 (COSE_Sign1)"
        outer = outer.value
    protected, _unprotected, payload, signature = outer
    header = cbor2.loads(protected)
    assert header[1] == -7, f"alg {header[1]}, expected -7 (ES256)"
    assert header[16] == "application/statuslist+cwt", f"typ {header.get(16)}"
    assert len(signature) == 64, "an ES256 signature is 64 bytes"
    claims = cbor2.loads(payload)
    status_list = claims[65533]
    bits = status_list["bits"]
    raw = zlib.decompress(status_list["lst"])
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    found = {}
    for byte_index, byte in enumerate(raw):
        if byte == 0:
            continue
        for k in range(per_byte):
            # Least significant bits first: entry i sits at bit (i % per_byte) * bits.
            value = (byte >> (k * bits)) & mask
            if value:
                found[str(byte_index * per_byte + k)] = value
    print(json.dumps({
        "sub": claims[2],
        "iat": claims[6],
        "exp": claims[4],
        "ttl": claims.get(65534),
        "bits": bits,
        "entries": len(raw) * per_byte,
        "set": found,
    }))


if __name__ == "__main__":
    main(sys.argv[1])

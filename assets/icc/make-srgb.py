#!/usr/bin/env python3
"""Writes sRGB-compact.icc: an ICC v2.1 display-class sRGB profile of nine tags (desc, cprt,
wtpt, the three D50-adapted colorants, one shared 64-point tone curve), about 0.6 KB.

The numbers are the sRGB standard's (IEC 61966-2.1): the Bradford-adapted D50 colorants the
ICC publishes and the sRGB transfer function sampled at 64 points (linear interpolation between
them is within 0.3% of the curve). Run from this folder: python3 make-srgb.py
"""
import struct

def s15(v):
    return struct.pack(">i", round(v * 65536))

def xyz(x, y, z):
    return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

def srgb_to_linear(v):
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

N = 64
curve = b"curv" + bytes(4) + struct.pack(">I", N) + b"".join(
    struct.pack(">H", round(srgb_to_linear(i / (N - 1)) * 65535)) for i in range(N)
)
name = b"sRGB IEC61966-2.1 (compact)\0"
# textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
desc = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(8) + bytes(3) + bytes(67)
cprt = b"text" + bytes(4) + b"No copyright, use freely\0"

tags = [
    (b"desc", desc),
    (b"cprt", cprt),
    (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
    (b"rXYZ", xyz(0.4360747, 0.2225045, 0.0139322)),
    (b"gXYZ", xyz(0.3850649, 0.7168786, 0.0971045)),
    (b"bXYZ", xyz(0.1430804, 0.0606169, 0.7141733)),
    (b"rTRC", curve),
]
shared = [b"gTRC", b"bTRC"]
count = len(tags) + len(shared)
offset = 128 + 4 + 12 * count
table = b""
data = b""
curve_at = None
for sig, body in tags:
    at = offset + len(data)
    table += sig + struct.pack(">II", at, len(body))
    if sig == b"rTRC":
        curve_at = (at, len(body))
    data += body
    data += bytes((-len(data)) % 4)
for sig in shared:
    table += sig + struct.pack(">II", *curve_at)
size = offset + len(data)
header = (
    struct.pack(">I", size)
    + bytes(4)  # preferred CMM: none
    + struct.pack(">I", 0x02100000)  # version 2.1
    + b"mntrRGB XYZ "
    + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
    + b"acsp"
    + bytes(4 + 4 + 4 + 4 + 8)  # platform, flags, manufacturer, model, attributes
    + struct.pack(">I", 0)  # perceptual
    + s15(0.9642) + s15(1.0) + s15(0.8249)  # PCS illuminant D50
    + bytes(4)  # creator
    + bytes(44)  # profile id (v4 only) and reserved
)
assert len(header) == 128
profile = header + struct.pack(">I", count) + table + data
assert len(profile) == size
open("sRGB-compact.icc", "wb").write(profile)
print(len(profile), "bytes")

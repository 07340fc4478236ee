"""Write icon.png (128x128 RGBA) for the extension: an orange disc with a white check mark.

A hand-written PNG encoder (zlib + CRC from the standard library), so no imaging package is needed.
Usage: python scripts/make_icon.py [OUT]
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

SIZE = 128


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _segment_distance(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    t = max(
        0.0,
        min(1.0, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)),
    )
    return math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay)))


def draw() -> list[list[tuple[int, int, int, int]]]:
    center, radius = SIZE / 2, SIZE / 2 - 4
    check = ((34.0, 66.0), (55.0, 88.0), (95.0, 42.0))
    rows = []
    for j in range(SIZE):
        row = []
        for i in range(SIZE):
            x, y = i + 0.5, j + 0.5
            disc = max(0.0, min(1.0, radius - math.hypot(x - center, y - center) + 0.5))
            shade = y / SIZE  # PyTorch-like orange, darker towards the bottom
            r, g, b = 238 - int(30 * shade), 76 - int(20 * shade), 44
            stroke = min(
                _segment_distance(x, y, check[0], check[1]),
                _segment_distance(x, y, check[1], check[2]),
            )
            white = max(0.0, min(1.0, 8.0 - stroke + 0.5))
            r, g, b = (int(c + (255 - c) * white) for c in (r, g, b))
            row.append((r, g, b, int(255 * disc)))
        rows.append(row)
    return rows


def main() -> None:
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent / "icon.png"
    )
    out.write_bytes(encode_png(draw()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

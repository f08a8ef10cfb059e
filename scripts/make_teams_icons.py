"""Draw the Teams app's two icons once: app/teams_app/icons/color.png (192x192, full colour)
and outline.png (32x32, white on transparent), as Teams' manifest asks for.

Pure Python (zlib and struct), so building the app package needs no imaging library; the
PNGs are committed and this only runs again when the design changes:
    python scripts/make_teams_icons.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "app" / "teams_app" / "icons"
ACCENT = (0x1D, 0x70, 0xB8, 0xFF)  # the manifest's accentColor, GOV.UK blue
WHITE = (0xFF, 0xFF, 0xFF, 0xFF)
CLEAR = (0, 0, 0, 0)
SAMPLES = 4  # per axis, for smooth edges


def png(width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    """An 8-bit RGBA PNG: signature, IHDR, one IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _in_triangle(x: float, y: float, top: float, bottom: float, half: float, cx: float) -> bool:
    if y < top or y > bottom:
        return False
    return abs(x - cx) <= half * (y - top) / (bottom - top)


def warning_sign(x: float, y: float, size: float, stroke: float) -> str:
    """What is at (x, y) of a warning triangle with an exclamation mark, drawn in a
    size x size box: "edge" (the triangle's band), "mark" (the !) or "" (outside)."""
    cx = size / 2
    top, bottom, half = size * 0.12, size * 0.88, size * 0.44
    if not _in_triangle(x, y, top, bottom, half, cx):
        return ""
    inner_top, inner_bottom = top + stroke * 2.0, bottom - stroke
    inner_half = half - stroke * 1.8
    if not _in_triangle(x, y, inner_top, inner_bottom, inner_half, cx):
        return "edge"
    bar = stroke * 0.55
    if abs(x - cx) <= bar and size * 0.40 <= y <= size * 0.66:
        return "mark"
    dot_y = size * 0.75
    if (x - cx) ** 2 + (y - dot_y) ** 2 <= (bar * 1.2) ** 2:
        return "mark"
    return "inside"


def draw(size: int, colours: dict[str, tuple[int, int, int, int]], stroke: float):
    """Each pixel the average of SAMPLES x SAMPLES points (premultiplied-free: alpha-weighted)."""
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    part = warning_sign(px + (sx + 0.5) / SAMPLES, py + (sy + 0.5) / SAMPLES,
                                        size, stroke)
                    r, g, b, a = colours[part]
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = SAMPLES * SAMPLES
            alpha = acc[3] / n
            if alpha == 0:
                row.append(CLEAR)
            else:
                row.append((round(acc[0] / acc[3]), round(acc[1] / acc[3]),
                            round(acc[2] / acc[3]), round(alpha)))
        rows.append(row)
    return rows


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    # Colour: white sign on a full accent square (Teams rounds the corners itself); the sign
    # keeps inside the central 120 px Teams leaves clear of its own cropping.
    size = 192
    colour = {"": ACCENT, "edge": WHITE, "mark": WHITE, "inside": ACCENT}
    inset = 36
    inner = draw(size - 2 * inset, colour, stroke=9)
    pixels = [[ACCENT] * size for _ in range(size)]
    for y, row in enumerate(inner):
        pixels[y + inset][inset:inset + len(row)] = row
    (ICONS / "color.png").write_bytes(png(size, size, pixels))
    # Outline: white only, on transparent; the ! is cut out of a solid sign.
    outline = {"": CLEAR, "edge": WHITE, "mark": CLEAR, "inside": WHITE}
    (ICONS / "outline.png").write_bytes(png(32, 32, draw(32, outline, stroke=2)))
    print(f"wrote {ICONS / 'color.png'} and {ICONS / 'outline.png'}")


if __name__ == "__main__":
    main()

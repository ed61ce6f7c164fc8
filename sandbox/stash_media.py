"""Media bytes the Stash emulator serves: real baseline JPEG covers and a stand-in mp4.

The JPEG encoder is deliberately tiny: each 8x8 block of each component holds a flat
colour, so only DC coefficients are coded (every AC run is a single end-of-block). The
result is a genuine baseline JPEG (SOI, JFIF APP0, COM, DQT, SOF0, DHT, SOS, EOI) that
any decoder opens, and whose picture, a diagonal two-colour gradient, differs per seed.
No third-party imaging library is needed.
"""

from __future__ import annotations

import hashlib
import struct

# Annex K.3 luminance DC table: code lengths 1..16 and the categories they encode.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# A one-symbol AC table: only end-of-block (0x00), coded as the single bit "0".
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0x00,)
# Every quantiser is 8, so a flat block of level L quantises to exactly L - 128.
_QUANT = 8


def _canonical_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Map each symbol to (code, length) the way JPEG's Annex C builds Huffman codes."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    k = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_BITS, _DC_VALUES)
_EOB = _canonical_codes(_AC_BITS, _AC_VALUES)[0x00]


class _BitWriter:
    """Accumulate entropy-coded bits, with JPEG's 0xFF byte stuffing."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, code: int, length: int) -> None:
        self._acc = (self._acc << length) | (code & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1-bits
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _rgb_to_ycbcr(r: float, g: float, b: float) -> tuple[int, int, int]:
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(v))) for v in (y, cb, cr))  # type: ignore[return-value]


def _palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(seed.encode()).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def jpeg_bytes(seed: str, *, width: int = 64, height: int = 48, comment: str = "") -> bytes:
    """A valid baseline JPEG whose colours derive from `seed`.

    `comment` goes into a COM segment, so two covers always differ byte-wise even if
    their colours happen to collide. Starts with FFD8 and ends with FFD9.
    """
    if not (8 <= width <= 4096 and 8 <= height <= 4096):
        raise ValueError("width and height must be between 8 and 4096")
    start, end = _palette(seed)
    cols, rows = (width + 7) // 8, (height + 7) // 8
    span = max(1, cols + rows - 2)
    # Colour runs along the diagonals: one level per diagonal (row + col), computed once.
    levels = []
    for diagonal in range(rows + cols - 1):
        t = diagonal / span
        rgb = [a + (b - a) * t for a, b in zip(start, end)]
        levels.append(tuple((level - 128) * 8 // _QUANT for level in _rgb_to_ycbcr(*rgb)))
    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for row in range(rows):
        for col in range(cols):
            for component, dc in enumerate(levels[row + col]):
                diff = dc - previous_dc[component]
                previous_dc[component] = dc
                size = abs(diff).bit_length()
                writer.write(*_DC_CODES[size])
                if size:
                    writer.write(diff if diff > 0 else diff + (1 << size) - 1, size)
                writer.write(*_EOB)
    scan = writer.flush()

    jfif = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    dqt = bytes([0x00]) + bytes([_QUANT] * 64)
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"".join(
        struct.pack(">BBB", cid, 0x11, 0) for cid in (1, 2, 3)
    )
    dht = (
        bytes([0x00]) + bytes(_DC_BITS) + bytes(_DC_VALUES)
        + bytes([0x10]) + bytes(_AC_BITS) + bytes(_AC_VALUES)
    )
    sos = bytes([3]) + b"".join(struct.pack(">BB", cid, 0x00) for cid in (1, 2, 3)) + bytes([0, 63, 0])
    parts = [b"\xff\xd8", _segment(0xFFE0, jfif)]
    if comment:
        parts.append(_segment(0xFFFE, comment.encode()[:65000]))
    parts += [
        _segment(0xFFDB, dqt),
        _segment(0xFFC0, sof),
        _segment(0xFFC4, dht),
        _segment(0xFFDA, sos),
        scan,
        b"\xff\xd9",
    ]
    return b"".join(parts)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF0 segment; raises ValueError if it has none."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"bad marker at offset {pos}")
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xC0:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:
            break
        pos += 2 + length
    raise ValueError("no SOF0 segment")


def mp4_bytes(seed: str) -> bytes:
    """A few bytes shaped like an mp4 (ftyp + free + mdat boxes); not playable video."""
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 0x200) + b"isommp41"
    free = struct.pack(">I4s", 8, b"free")
    payload = hashlib.sha256(seed.encode()).digest() * 4
    mdat = struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
    return ftyp + free + mdat

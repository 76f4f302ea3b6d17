"""The PDQ perceptual hash, in numpy, and the 64-bit hash the near-duplicate rule indexes.

PDQ is Facebook's perceptual image hash (facebook/ThreatExchange, ``pdq/README.md``; the
algorithm is described in ``hashing/hashing.pdf`` of the same repository). This module
follows the reference implementations (``pdq/cpp/hashing/pdqhashing.cpp``,
``pdq/python/pdqhashing/hasher/pdq_hasher.py``) step by step:

1. RGB to luminance, ``Y = 0.299 R + 0.587 G + 0.114 B``;
2. Jarosz box-filter downsample: two passes of a 1-D box filter along the rows then the
   columns (a tent filter), the window ``ceil(side / 128)`` per axis, then a decimation
   to 64 x 64 that takes the pixel at each output cell's centre;
3. the quality: the sum of the quantised gradients of the 64 x 64 image
   (``int((u - v) * 100 / 255)``, absolute, between vertical and horizontal
   neighbours), divided by 90, capped at 100;
4. a 2-D DCT of the 64 x 64 image keeping frequencies 1..16 along each axis: the DC row
   and column are skipped, as PDQ does (``B = D A D^T``, ``D`` the 16 x 64 DCT-II
   matrix scaled by ``sqrt(2 / 64)``);
5. a bit per coefficient (row-major, bit ``16 i + j``): set when the coefficient is
   above the median of the 256 (the reference's Torben median, which is the lower
   median, the 128th smallest value); written as 64 hex characters as the reference
   prints a ``Hash256`` (its sixteen 16-bit words, the last first), so a hash here
   compares with one from the reference tools.

Why numpy and not a binding: ``pdqhash`` (and ``vpdq``) publish no wheel for this
Python, so installing them builds C++ from source, and a fresh machine may have no C++
compiler.

Checked against the reference (ThreatExchange at commit baefb4ed): fed the same
luminance, the pure-Python reference and this module give the same hash and quality
for structured and noisy images of several sizes (tests/unit/test_media.py keeps three
of the reference's hashes). An image that varies along one axis only differs: nearly
all its coefficients are zero but for rounding, which then decides the bits, in each
implementation its own way. On the reference's sample images, decoded by FFmpeg and
scaled to 512 pixels as its Python tool does, 13 of 18 hash exactly as its test
expects; 3 more (quality 100) are 2, 2 and 12 bits off, and two of quality 3 and 4 are
20 and 48 bits off. FFmpeg and PIL decode JPEG slightly differently; the README's bar
for another implementation is 10 bits at quality 80 and above, which the 12-bit one
misses.

The matching rule is PDQ's: two hashes match at a Hamming distance of at most 31 of
256 (``MATCH_DISTANCE``, ThreatExchange's ``PDQ_CONFIDENT_MATCH_THRESHOLD``); unrelated
images sit near 128. A quality below 50 means a near-featureless image whose hash is
not to be trusted (``vpdq``'s ``VPDQ_QUALITY_THRESHOLD``).

``perceptual_hash`` is the engine's 64-bit hash (``Clip.perceptual_hash``, a signed
BIGINT; the near-duplicate fraud rule's uint64 Hamming index): the 8 x 8 lowest
frequencies of the same DCT (frequencies 1..8 along each axis, so without the DC terms
either), a bit per coefficient above their median (bit ``8 i + j``), as a signed 64-bit
int (two's complement of the unsigned value).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "LOW_QUALITY",
    "MATCH_DISTANCE",
    "PdqHash",
    "dct16",
    "downsample",
    "hamming_64",
    "hamming_256",
    "hash_luma",
    "hash_rgb",
    "luminance",
    "quality",
]

MATCH_DISTANCE = 31  # of 256 bits: PDQ's confident-match threshold
LOW_QUALITY = 50  # below this, the image is near featureless (vPDQ drops such frames)

LUMA_COEFFICIENTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SIDE = 64  # the downsampled image
_DCT_SIZE = 16  # PDQ keeps 16 x 16 coefficients (frequencies 1..16)
_LOW = 8  # the 64-bit hash keeps 8 x 8 (frequencies 1..8)
_JAROSZ_PASSES = 2
_JAROSZ_DIVISOR = 128  # window = ceil(side / 128): two passes cover side / 64

FloatImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PdqHash:
    """A PDQ hash (64 hex characters), its quality (0..100) and the 64-bit hash of the
    same image (a signed int, as ``Clip.perceptual_hash`` stores it)."""

    hex: str
    quality: int
    hash64: int


def luminance(rgb: npt.NDArray[np.uint8]) -> FloatImage:
    """An H x W x 3 RGB image as PDQ's float luminance (H x W)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {rgb.shape}")
    luma: FloatImage = rgb.astype(np.float32) @ LUMA_COEFFICIENTS
    return luma


def hash_rgb(rgb: npt.NDArray[np.uint8]) -> PdqHash:
    """The PDQ hash of an H x W x 3 RGB image."""
    return hash_luma(luminance(rgb))


def hash_luma(luma: npt.NDArray[np.floating]) -> PdqHash:
    """The PDQ hash of a luminance image (H x W, values 0..255).

    Images smaller than 5 pixels a side hash to all zeros with quality 0, as in the
    reference (``MIN_HASHABLE_DIM``)."""
    if luma.ndim != 2:
        raise ValueError(f"expected an H x W luminance image, got shape {luma.shape}")
    rows, cols = luma.shape
    if rows < 5 or cols < 5:
        return PdqHash("0" * 64, 0, 0)
    small = downsample(luma)
    coefficients = dct16(small)
    return PdqHash(
        hex=_bits_to_hex(_above_median(coefficients)),
        quality=quality(small),
        hash64=_bits_to_int64(_above_median(coefficients[:_LOW, :_LOW])),
    )


def downsample(luma: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Jarosz's tent filter (two box passes per axis) then decimation to 64 x 64."""
    rows, cols = luma.shape
    image = np.asarray(luma, dtype=np.float64)
    along_rows = _window(cols)  # the window that slides along each row
    along_cols = _window(rows)
    for _ in range(_JAROSZ_PASSES):
        image = _box(image, along_rows, axis=1)
        image = _box(image, along_cols, axis=0)
    # Each output cell takes the input pixel at its centre: int((i + 0.5) * n / 64).
    row_at = ((np.arange(_SIDE) + 0.5) * rows / _SIDE).astype(np.intp)
    col_at = ((np.arange(_SIDE) + 0.5) * cols / _SIDE).astype(np.intp)
    decimated: npt.NDArray[np.float64] = image[np.ix_(row_at, col_at)]
    return decimated


def quality(small: npt.NDArray[np.floating]) -> int:
    """PDQ's quality of a 64 x 64 image: quantised gradients summed, / 90, capped at 100."""
    vertical = np.trunc((small[:-1, :] - small[1:, :]) * 100 / 255)
    horizontal = np.trunc((small[:, :-1] - small[:, 1:]) * 100 / 255)
    gradient_sum = int(np.abs(vertical).sum() + np.abs(horizontal).sum())
    return min(gradient_sum // 90, 100)


def dct16(small: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Frequencies 1..16 x 1..16 of the 64 x 64 image's 2-D DCT (no DC row or column)."""
    matrix = _dct_matrix()
    coefficients: npt.NDArray[np.float64] = matrix @ np.asarray(small, np.float64) @ matrix.T
    return coefficients


def hamming_256(a_hex: str, b_hex: str) -> int:
    """The Hamming distance between two PDQ hashes given as 64 hex characters."""
    if len(a_hex) != 64 or len(b_hex) != 64:
        raise ValueError("a PDQ hash is 64 hex characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def hamming_64(a: int, b: int) -> int:
    """The Hamming distance between two 64-bit hashes, signed or not."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


@cache
def _dct_matrix() -> npt.NDArray[np.float64]:
    """D[i, j] = sqrt(2 / 64) cos(pi / 128 (i + 1) (2 j + 1)), i < 16, j < 64."""
    i = np.arange(1, _DCT_SIZE + 1)[:, None]
    j = np.arange(_SIDE)[None, :]
    matrix: npt.NDArray[np.float64] = np.sqrt(2.0 / _SIDE) * np.cos(
        (np.pi / 2 / _SIDE) * i * (2 * j + 1)
    )
    return matrix


def _window(side: int) -> int:
    return (side + _JAROSZ_DIVISOR - 1) // _JAROSZ_DIVISOR


def _box(image: npt.NDArray[np.float64], window: int, axis: int) -> npt.NDArray[np.float64]:
    """The reference's ``box1DFloat`` along ``axis``: output ``o`` is the mean of inputs
    ``o - (window - half) .. o + half - 1`` (``half = (window + 2) // 2``), the window
    clipped at both ends (and the mean taken over what is left)."""
    n = image.shape[axis]
    half = (window + 2) // 2
    out = np.arange(n)
    low = np.clip(out - (window - half), 0, n)
    high = np.clip(out + half, 0, n)  # exclusive
    zero = np.zeros_like(np.take(image, [0], axis=axis))
    padded = np.concatenate([zero, np.cumsum(image, axis=axis)], axis=axis)
    total = np.take(padded, high, axis=axis) - np.take(padded, low, axis=axis)
    counts = (high - low).astype(np.float64)
    result: npt.NDArray[np.float64] = total / (counts[None, :] if axis == 1 else counts[:, None])
    return result


def _above_median(coefficients: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """A bit per coefficient, row-major: above the lower median (the reference's Torben
    median of an even count is the (n/2)-th smallest value)."""
    flat = coefficients.ravel()
    median = np.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2]
    bits: npt.NDArray[np.bool_] = flat > median
    return bits


def _bits_to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """Bit k is 2**k of the hash as a 256-bit number, printed as 64 hex characters (the
    reference's ``Hash256``: word k holds bits 16k..16k+15, printed last word first)."""
    return format(_bits_to_unsigned(bits), "064x")


def _bits_to_int64(bits: npt.NDArray[np.bool_]) -> int:
    unsigned = _bits_to_unsigned(bits)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def _bits_to_unsigned(bits: npt.NDArray[np.bool_]) -> int:
    packed = np.packbits(bits, bitorder="little")  # byte b holds bits 8b..8b+7
    return int.from_bytes(packed.tobytes(), "little")

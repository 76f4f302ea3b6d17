"""The PDQ hash on images (no files): agreement with the reference implementation,
quality, and what moves the hash and what does not. The video analysis that uses it is
tested on real files in tests/integration/test_media.py."""

import numpy as np
import numpy.typing as npt
import pytest

from rewards_engine.media import pdq

# Hashes of ``pattern(h, w)`` by the reference Python implementation, facebook/ThreatExchange
# pdq/python (PDQHasher.pdqHash256FromFloatLuma, commit baefb4ed), fed the same luminance.
REFERENCE = {
    (120, 160): "97e9ad53b84952d3bfc97253bac97782bd295112baa951525556801d0016ffec",
    (300, 200): "5472ffda5552dfda5552aaa5886daa85106f006ffe8d106f9e8d0067be8d0067",
    (257, 383): "602a1f80612a1f80612a9f80452a107fead51c7f1fd5e07a1fd5e07f1fd5e07f",
}


def pattern(height: int, width: int) -> npt.NDArray[np.uint8]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 128 + 90 * np.sin((x + 2 * y) / 17.0)
    b = (x * 3 + y * 5) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def scene(seed: int, height: int = 240, width: int = 320) -> npt.NDArray[np.uint8]:
    """A photo-like image: random colour fields at a few scales, smoothly enlarged."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3))
    for cells, weight in ((3, 140.0), (8, 70.0), (20, 40.0)):
        grid = rng.random((cells, cells, 3))
        rows = np.linspace(0, cells - 1, height).round().astype(int)
        cols = np.linspace(0, cells - 1, width).round().astype(int)
        coarse = grid[rows][:, cols]
        kernel = np.ones(9) / 9  # soften the blocks' edges a little
        for axis in (0, 1):
            coarse = np.apply_along_axis(np.convolve, axis, coarse, kernel, mode="same")
        image += weight * coarse
    return image.clip(0, 255).astype(np.uint8)


def shrink(image: npt.NDArray[np.uint8], factor: int) -> npt.NDArray[np.uint8]:
    """Area-average downscale by an integer factor."""
    h, w, c = image.shape
    blocks = image[: h - h % factor, : w - w % factor].reshape(
        h // factor, factor, w // factor, factor, c
    )
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


@pytest.mark.parametrize("size", sorted(REFERENCE))
def test_the_hash_is_the_reference_implementations(size: tuple[int, int]) -> None:
    result = pdq.hash_rgb(pattern(*size))
    assert result.hex == REFERENCE[size]
    assert result.quality == 100


def test_luminance_is_pdqs_weighting() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    expected = [0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30]
    assert pdq.luminance(rgb)[0] == pytest.approx(expected, rel=1e-6)


def test_a_flat_image_has_no_quality() -> None:
    flat = np.full((120, 160, 3), 128, dtype=np.uint8)
    assert pdq.hash_rgb(flat).quality == 0
    faint = flat.copy()
    faint[:, 80:] += 4  # one faint edge
    assert pdq.hash_rgb(faint).quality < pdq.LOW_QUALITY
    assert pdq.hash_rgb(scene(0)).quality >= pdq.LOW_QUALITY


def test_a_scaled_image_matches() -> None:
    original = scene(1)
    for factor in (2, 3):
        smaller = pdq.hash_rgb(shrink(original, factor))
        full = pdq.hash_rgb(original)
        assert pdq.hamming_256(full.hex, smaller.hex) <= pdq.MATCH_DISTANCE  # seen: 14, 6
        assert pdq.hamming_64(full.hash64, smaller.hash64) <= 8  # seen: 4, 2


def test_a_rotated_image_does_not_match() -> None:
    for image in (scene(2), pattern(120, 160)):
        turned = np.ascontiguousarray(np.rot90(image))
        distance = pdq.hamming_256(pdq.hash_rgb(image).hex, pdq.hash_rgb(turned).hex)
        assert distance > 3 * pdq.MATCH_DISTANCE


def test_other_images_are_far_apart() -> None:
    hashes = [pdq.hash_rgb(scene(seed)) for seed in range(6)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert pdq.hamming_256(a.hex, b.hex) > 2 * pdq.MATCH_DISTANCE
            assert pdq.hamming_64(a.hash64, b.hash64) > 10


def test_the_hashes_split_at_their_median() -> None:
    """Half the bits set, 128 of 256 and 32 of 64: the lower median is the threshold.
    (The fraud rule ignores 64-bit hashes with under 8 or over 56 bits set.)"""
    for seed in range(4):
        result = pdq.hash_rgb(scene(seed))
        assert len(result.hex) == 64
        assert int(result.hex, 16).bit_count() == 128
        assert -(2**63) <= result.hash64 < 2**63
        assert (result.hash64 & (2**64 - 1)).bit_count() == 32


def test_the_64_bit_hash_is_signed_like_the_column() -> None:
    signs = {pdq.hash_rgb(scene(seed)).hash64 < 0 for seed in range(12)}
    assert signs == {True, False}  # the top bit is used, stored as a negative BIGINT


def test_hamming_distances() -> None:
    a = "0" * 64
    assert pdq.hamming_256(a, a) == 0
    assert pdq.hamming_256(a, "f" * 64) == 256
    assert pdq.hamming_256(a, "0" * 63 + "7") == 3
    assert pdq.hamming_64(-1, 0) == 64
    assert pdq.hamming_64(-1, 2**64 - 1) == 0
    with pytest.raises(ValueError, match="64 hex"):
        pdq.hamming_256(a, "abc")


def test_tiny_images_hash_to_nothing() -> None:
    """As the reference: under 5 pixels a side, an all-zero hash of quality 0."""
    result = pdq.hash_rgb(np.zeros((4, 100, 3), dtype=np.uint8))
    assert (result.hex, result.quality, result.hash64) == ("0" * 64, 0, 0)

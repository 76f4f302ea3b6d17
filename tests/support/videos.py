"""Real small videos for the media tests and the verification benchmark, made with PyAV.

``make_video`` draws footage that differs by ``seed``: a textured background (random
fields at several scales) panning sideways, with soft coloured blobs moving across it,
as a camera on a moving car would see. ``reencode`` decodes a video and encodes it
again (what a re-upload through another app does), ``truncate`` keeps the first part of
a file's bytes (an interrupted upload) and ``text_file_named_mp4`` is not a video at all.

The codec is H.264 (``libx264``) when PyAV's wheel can encode it, MPEG-4 Part 2
(``mpeg4``) otherwise; the container follows the file's suffix (``.mp4``, ``.mkv``...).
Each takes well under a second at the default size.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


def _pick_codec() -> str:
    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            continue
        return name
    raise RuntimeError("this PyAV can encode neither H.264 nor MPEG-4")


CODEC = _pick_codec()
PAN_PX_PER_S = 0.08  # of the frame width


def make_video(
    path: str | Path,
    *,
    seconds: float = 3,
    size: tuple[int, int] = (160, 120),
    fps: int = 10,
    seed: int = 0,
    codec: str = CODEC,
    bitrate: int | None = None,
    gop: int | None = None,
    faststart: bool = False,
) -> Path:
    """A video of ``seconds`` at ``fps`` frames a second, ``size`` = (width, height)
    (even numbers, as 4:2:0 needs). ``bitrate`` in bits a second (the encoder's default
    when None); ``gop``, the frames between key frames (the encoder's default when
    None); ``faststart`` writes an MP4's index (moov) before its data, as a web upload
    tool does; otherwise it follows the data, as a camera writes it."""
    path = Path(path)
    width, height = size
    frames = round(seconds * fps)
    rng = np.random.default_rng(seed)
    pan = max(1, round(PAN_PX_PER_S * width * seconds))
    canvas = _background(rng, width + pan, height)
    blobs = _blobs(rng, width, height)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = _video_stream(container, codec, fps, width, height, bitrate, gop)
        for index in range(frames):
            offset = round(pan * index / max(frames - 1, 1))
            image = canvas[:, offset : offset + width].copy()
            _draw_blobs(image, blobs, index / fps)
            frame = av.VideoFrame.from_ndarray(image.clip(0, 255).astype(np.uint8), "rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def reencode(
    src: str | Path,
    dst: str | Path,
    *,
    size: tuple[int, int] | None = None,
    codec: str = CODEC,
    bitrate: int | None = None,
) -> Path:
    """Decode ``src`` and encode its frames again into ``dst``, resized to ``size``
    (width, height) when given, at the same frame rate."""
    dst = Path(dst)
    with av.open(str(src)) as source, av.open(str(dst), "w") as target:
        original = source.streams.video[0]
        rate = Fraction(original.average_rate or 25)
        width, height = size or (original.codec_context.width, original.codec_context.height)
        stream = _video_stream(target, codec, rate, width, height, bitrate, None)
        for index, frame in enumerate(source.decode(original)):
            image = frame.reformat(width=width, height=height, format="yuv420p")
            image.pts, image.time_base = index, 1 / rate
            target.mux(stream.encode(image))
        target.mux(stream.encode(None))
    return dst


def truncate(src: str | Path, dst: str | Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes, as an interrupted upload leaves it."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def text_file_named_mp4(path: str | Path) -> Path:
    path = Path(path)
    path.write_text("This is not a video, whatever its name says.\n" * 40)
    return path


def _video_stream(
    container: av.container.OutputContainer,
    codec: str,
    fps: int | Fraction,
    width: int,
    height: int,
    bitrate: int | None,
    gop: int | None,
) -> av.VideoStream:
    options = {"preset": "veryfast"} if codec == "libx264" else {}
    stream = container.add_stream(codec, rate=fps, options=options)
    assert isinstance(stream, av.VideoStream), f"{codec} is not a video codec"
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1) / Fraction(fps)
    if bitrate is not None:
        stream.bit_rate = bitrate
    if gop is not None:
        stream.codec_context.gop_size = gop
    return stream


def _background(rng: np.random.Generator, width: int, height: int) -> npt.NDArray[np.float32]:
    """Random colour fields at three scales, smoothly interpolated: each seed its scene."""
    image = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((4, 150.0), (12, 70.0), (40, 35.0)):
        grid = rng.random((cells + 1, round(cells * width / height) + 2, 3), dtype=np.float32)
        image += weight * _upsample(grid, width, height)
    return image


def _upsample(grid: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
    """Bilinear interpolation of a small grid to height x width."""
    rows, cols = grid.shape[:2]
    y = np.linspace(0, rows - 1, height, dtype=np.float32)
    x = np.linspace(0, cols - 1, width, dtype=np.float32)
    y0 = np.minimum(y.astype(int), rows - 2)
    x0 = np.minimum(x.astype(int), cols - 2)
    fy = (y - y0)[:, None, None]
    fx = (x - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    result: npt.NDArray[np.float32] = top * (1 - fy) + bottom * fy
    return result


Blob = tuple[float, float, float, float, float, npt.NDArray[np.float32]]


def _blobs(rng: np.random.Generator, width: int, height: int) -> list[Blob]:
    """(x, y, vx, vy, radius, colour) for a few blobs, positions in pixels, speeds in
    pixels a second."""
    blobs = []
    for _ in range(int(rng.integers(3, 6))):
        x, y = rng.random() * width, rng.random() * height
        vx, vy = (rng.random(2) - 0.5) * np.array([width, height]) * 0.4
        radius = (0.05 + 0.1 * rng.random()) * min(width, height)
        colour = (rng.random(3, dtype=np.float32) - 0.5) * 300
        blobs.append((x, y, float(vx), float(vy), radius, colour))
    return blobs


def _draw_blobs(image: npt.NDArray[np.float32], blobs: list[Blob], t: float) -> None:
    height, width = image.shape[:2]
    for x0, y0, vx, vy, radius, colour in blobs:
        x, y = (x0 + vx * t) % width, (y0 + vy * t) % height
        reach = int(3 * radius)
        top, bottom = max(0, int(y) - reach), min(height, int(y) + reach + 1)
        left, right = max(0, int(x) - reach), min(width, int(x) + reach + 1)
        if top >= bottom or left >= right:
            continue
        ys = np.arange(top, bottom, dtype=np.float32)[:, None] - y
        xs = np.arange(left, right, dtype=np.float32)[None, :] - x
        weight = np.exp(-(ys * ys + xs * xs) / (2 * radius * radius))
        image[top:bottom, left:right] += weight[:, :, None] * colour

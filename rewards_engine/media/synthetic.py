"""Synthetic videos, made with PyAV: real files the probe accepts, for the demo, the
``rewards-engine sample-video`` command, the tests and the benchmarks.

- ``make_video`` draws footage that differs by ``seed``: a textured background (random
  fields at several scales) panning sideways, with soft coloured blobs moving across
  it, as a camera on a moving car would see. Well under a second at the default size.
- ``DistinctVideos`` makes many tiny videos quickly, each a scene of its own whose
  perceptual hash is far from every other's (the demo's clips, which the near-duplicate
  fraud rule must not take for copies of each other).

The codec is H.264 (``libx264``) when PyAV's wheel can encode it, MPEG-4 Part 2
(``mpeg4``) otherwise; ``make_video``'s container follows the file's suffix (``.mp4``,
``.mkv``...).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
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
        stream = video_stream(container, codec, fps, width, height, bitrate, gop)
        for index in range(frames):
            offset = round(pan * index / max(frames - 1, 1))
            image = canvas[:, offset : offset + width].copy()
            _draw_blobs(image, blobs, index / fps)
            frame = av.VideoFrame.from_ndarray(image.clip(0, 255).astype(np.uint8), "rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def video_stream(
    container: av.container.OutputContainer,
    codec: str,
    fps: int | Fraction,
    width: int,
    height: int,
    bitrate: int | None,
    gop: int | None,
    options: dict[str, str] | None = None,
) -> av.VideoStream:
    """A 4:2:0 video stream of ``container``, one tick a frame."""
    if options is None:
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


class DistinctVideos:
    """Many tiny videos (MP4, ``size`` pixels, ``fps`` frames a second), each a scene
    of its own: any two are at least ``min_distance`` bits apart in the 64-bit
    perceptual hash the engine measures (``rewards_engine.media.pdq``; the
    near-duplicate rule flags 5 bits or fewer), and no two are the same bytes.

    How: the engine's 64-bit hash keeps, for the 8 x 8 lowest frequencies of the
    picture's cosine transform (1..8 down and across), whether each coefficient lies
    above their median. Each scene's brightness is drawn as a sum of exactly those 64
    cosines with signs from a code word of 32 plus and 32 minus signs, so the scene
    hashes to its word; words are drawn at random, and one within ``min_distance``
    bits of a word drawn before is drawn again. A tint colours each scene and a faint
    spot (someone walking past) crosses it, too faint to move a coefficient across
    the median.

    ``make`` encodes the requested videos as one stream, a key frame starting each,
    then cuts the stream at those frames into separate MP4 files (a remux, no second
    encode): about 2 ms for a 2-second video. The same ``seed`` makes the same scenes
    (the bytes may differ between FFmpeg builds).
    """

    AMPLITUDE = 6.0  # of each cosine, in levels of brightness
    SPOT_LEVELS = 30.0  # the walker's brightness over the scene
    MIN_SECONDS = 1

    def __init__(
        self,
        seed: int,
        *,
        size: tuple[int, int] = (114, 64),  # 16:9, the probe's smallest height
        fps: int = 2,
        min_distance: int = 16,
        codec: str = CODEC,
    ) -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError("4:2:0 video needs an even width and height")
        self.size, self.fps, self.codec, self.min_distance = size, fps, codec, min_distance
        self._rng = np.random.default_rng(seed)
        self._words = np.zeros(0, np.uint64)
        self._down = _cosines(height)  # height x 8: frequencies 1..8 down
        self._across = _cosines(width)  # width x 8: frequencies 1..8 across
        ys, xs = np.mgrid[0:height, 0:width]
        self._ys, self._xs = ys.astype(np.float32), xs.astype(np.float32)

    def make(self, seconds: Sequence[int]) -> list[bytes]:
        """One MP4 file (its bytes) for each length in ``seconds`` (whole seconds, at
        least 1), each a new scene."""
        if any(s < self.MIN_SECONDS for s in seconds):
            raise ValueError(f"a video lasts at least {self.MIN_SECONDS} s")
        if not seconds:
            return []
        width, height = self.size
        whole = io.BytesIO()
        starts: list[int] = []
        with av.open(whole, "w", format="mp4") as container:
            frames = sum(seconds) * self.fps
            stream = video_stream(
                container, self.codec, self.fps, width, height, None, frames + 1, self._options()
            )
            pts = 0
            for length in seconds:
                starts.append(pts)
                for image in self._scene_frames(length * self.fps):
                    frame = av.VideoFrame.from_ndarray(image, "rgb24")
                    frame.pts = pts
                    if pts == starts[-1]:
                        frame.pict_type = av.video.frame.PictureType.I
                    pts += 1
                    container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return self._cut(whole, [*starts, pts], self.fps)

    def _options(self) -> dict[str, str]:
        if self.codec == "libx264":
            # No B-frames (zerolatency): packets come in presentation order, so the
            # stream cuts cleanly at each forced key frame (an IDR frame).
            return {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1"}
        return {}

    def _scene_frames(self, frames: int) -> list[npt.NDArray[np.uint8]]:
        """A new scene's frames: its code word's cosines, tinted, with a spot crossing."""
        rng = self._rng
        signs = np.where(_unpack(self._new_word()), 1.0, -1.0).reshape(8, 8)
        luma = 128.0 + self.AMPLITUDE * (self._down @ signs @ self._across.T)
        tint = rng.uniform(-24, 24, 3)
        tint -= tint @ np.array([0.299, 0.587, 0.114])  # a colour, the brightness unchanged
        scene = luma[:, :, None] + tint[None, None, :]
        height, width = luma.shape
        start = rng.uniform(0, 1, 2) * (width, height)
        velocity = rng.uniform(-0.5, 0.5, 2) * (width, height) / max(frames - 1, 1)
        radius = 0.05 * min(width, height)
        images = []
        for index in range(frames):
            x, y = (start + velocity * index) % (width, height)
            spot = np.exp(-((self._xs - x) ** 2 + (self._ys - y) ** 2) / (2 * radius * radius))
            image = scene + (self.SPOT_LEVELS * spot)[:, :, None]
            images.append(image.clip(0, 255).astype(np.uint8))
        return images

    def _new_word(self) -> int:
        """A 64-bit word of 32 ones, at least ``min_distance`` bits from every earlier one."""
        while True:
            ones = self._rng.choice(64, size=32, replace=False)
            word = np.uint64(sum(1 << int(bit) for bit in ones))
            nearest = int(np.bitwise_count(self._words ^ word).min(initial=64))
            if nearest >= self.min_distance:
                self._words = np.append(self._words, word)
                return int(word)

    @staticmethod
    def _cut(whole: io.BytesIO, bounds: list[int], fps: int) -> list[bytes]:
        """The encoded stream cut into one MP4 per video: frames [bounds[k],
        bounds[k+1]), retimed from zero (no B-frames: decoding order is
        presentation order)."""
        whole.seek(0)
        parts: list[list[tuple[int, av.Packet[av.VideoStream]]]] = [[] for _ in bounds[:-1]]
        with av.open(whole, "r", format="mp4") as source:
            original = source.streams.video[0]
            base = original.time_base
            assert base is not None
            for packet in source.demux(original):
                if packet.size == 0 or packet.pts is None:
                    continue
                frame = round(packet.pts * base * fps)
                part = int(np.searchsorted(bounds, frame, side="right")) - 1
                parts[part].append((packet.pts, packet))
            videos = []
            for packets in parts:
                assert packets and packets[0][1].is_keyframe, "each video starts at a key frame"
                first = packets[0][0]
                out = io.BytesIO()
                with av.open(out, "w", format="mp4") as target:
                    stream = target.add_stream_from_template(original)
                    for pts, packet in packets:
                        packet.pts = packet.dts = pts - first
                        packet.stream = stream
                        target.mux(packet)
                videos.append(out.getvalue())
        return videos


def _cosines(side: int) -> npt.NDArray[np.float64]:
    """side x 8: cos(pi k (i + 0.5) / side) for frequencies k = 1..8, the basis the
    perceptual hash's transform reads at each pixel i."""
    at = (np.arange(side) + 0.5) / side
    result: npt.NDArray[np.float64] = np.cos(np.pi * at[:, None] * np.arange(1, 9)[None, :])
    return result


def _unpack(word: int) -> npt.NDArray[np.bool_]:
    """Bit k of ``word`` (k = 8 i + j: frequency i + 1 down, j + 1 across)."""
    return np.array([(word >> k) & 1 for k in range(64)], dtype=bool)


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

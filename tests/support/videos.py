"""Real small videos for the media tests and the verification benchmark, made with PyAV.

``make_video`` (``rewards_engine.media.synthetic``, where the demo and the
``sample-video`` command make theirs) draws footage that differs by ``seed``.
``reencode`` decodes a video and encodes it again (what a re-upload through another
app does), ``truncate`` keeps the first part of a file's bytes (an interrupted upload)
and ``text_file_named_mp4`` is not a video at all.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from rewards_engine.media.synthetic import CODEC, make_video, video_stream

__all__ = ["CODEC", "make_video", "reencode", "text_file_named_mp4", "truncate"]


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
        stream = video_stream(target, codec, rate, width, height, bitrate, None)
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

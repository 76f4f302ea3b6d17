"""Media analysis of a received video file: local file I/O only (no database, Redis or
HTTP), so the verification job can run it anywhere.

- ``probe``: ``analyse(path)`` opens and decodes the file (PyAV, FFmpeg's libraries in
  its wheel) and returns its ``VideoFacts``, or raises ``MediaRejected`` with a stable
  ``reason`` (``REASONS``);
- ``pdq``: the PDQ perceptual hash (numpy), its Hamming distance and match threshold,
  and the 64-bit hash the near-duplicate fraud rule indexes.
"""

from rewards_engine.media.pdq import LOW_QUALITY, MATCH_DISTANCE, hamming_64, hamming_256
from rewards_engine.media.probe import REASONS, MediaRejected, VideoFacts, analyse

__all__ = [
    "LOW_QUALITY",
    "MATCH_DISTANCE",
    "REASONS",
    "MediaRejected",
    "VideoFacts",
    "analyse",
    "hamming_64",
    "hamming_256",
]

"""Videos at rest, encrypted per donor: each donor has a data key (AES-256-GCM), kept in
the database wrapped by the master keys of ``ENCRYPTION_KEYS`` (the ``Vault``, so master
keys rotate as they do for gift-card codes). Destroying a donor's data key makes every
copy of their videos (a replica, a backup, a forgotten bucket) unreadable.

A video is encrypted in chunks of 1 MiB so that neither side holds it in memory: each
chunk is sealed with a nonce made of a random prefix and the chunk's number, and its
associated data binds the object it belongs to, its number and whether it is the last.
Reordered, dropped, swapped or truncated chunks fail to open (the STREAM construction of
Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its
Nonce-Reuse Misuse-Resistance", 2015).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"RWV1"
CHUNK = 1024 * 1024
TAG = 16
_HEADER = struct.Struct(">4sI8s")  # magic, chunk size, nonce prefix


class VideoUnreadable(Exception):
    """The ciphertext was altered, truncated, or sealed with another key or object."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _associated(context: bytes, number: int, last: bool) -> bytes:
    return context + struct.pack(">IB", number, 1 if last else 0)


def encrypt_stream(key: bytes, source: IO[bytes], target: IO[bytes], *, context: bytes) -> int:
    """Seal ``source`` into ``target``; ``context`` names the object (its key in the
    store), so a ciphertext moved to another object does not open. Returns bytes written."""
    cipher = AESGCM(key)
    prefix = os.urandom(8)
    written = target.write(_HEADER.pack(MAGIC, CHUNK, prefix))
    number = 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        nonce = prefix + struct.pack(">I", number)
        written += target.write(cipher.encrypt(nonce, chunk, _associated(context, number, last)))
        if last:
            return written
        chunk, number = following, number + 1


def decrypted_chunks(key: bytes, source: IO[bytes], *, context: bytes) -> Iterator[bytes]:
    """The plaintext of a sealed video, chunk by chunk (for streaming it to its donor)."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise VideoUnreadable("not a sealed video")
    magic, chunk_size, prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise VideoUnreadable("not a sealed video")
    cipher = AESGCM(key)
    number = 0
    sealed = source.read(chunk_size + TAG)
    while True:
        following = source.read(chunk_size + TAG)
        last = not following
        nonce = prefix + struct.pack(">I", number)
        try:
            yield cipher.decrypt(nonce, sealed, _associated(context, number, last))
        except InvalidTag as exc:
            raise VideoUnreadable(f"chunk {number} does not open") from exc
        if last:
            return
        sealed, number = following, number + 1

"""Videos sealed per donor: they open only with their key, for their object, whole."""

from __future__ import annotations

import io
import os

import pytest

from rewards_engine.video_crypto import (
    CHUNK,
    VideoUnreadable,
    decrypted_chunks,
    encrypt_stream,
    new_data_key,
)


def seal(key: bytes, plain: bytes, context: bytes = b"videos/1") -> bytes:
    target = io.BytesIO()
    encrypt_stream(key, io.BytesIO(plain), target, context=context)
    return target.getvalue()


def opened(key: bytes, sealed: bytes, context: bytes = b"videos/1") -> bytes:
    return b"".join(decrypted_chunks(key, io.BytesIO(sealed), context=context))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_a_sealed_video_opens_to_the_same_bytes_at_any_size(size: int) -> None:
    key, plain = new_data_key(), os.urandom(size)
    sealed = seal(key, plain)
    # A byte or two may turn up anywhere by chance (1 byte: about one run in eight);
    # 16 random bytes found in the ciphertext would mean they were written in the clear.
    assert plain not in sealed or size < 16
    assert opened(key, sealed) == plain


def test_another_key_or_object_or_an_altered_byte_does_not_open() -> None:
    key, plain = new_data_key(), os.urandom(2 * CHUNK + 5)
    sealed = seal(key, plain)
    with pytest.raises(VideoUnreadable):
        opened(new_data_key(), sealed)
    with pytest.raises(VideoUnreadable):
        opened(key, sealed, context=b"videos/2")  # moved to another object
    altered = bytearray(sealed)
    altered[len(sealed) // 2] ^= 1
    with pytest.raises(VideoUnreadable):
        opened(key, bytes(altered))


def test_a_video_cut_at_a_chunk_boundary_is_refused() -> None:
    key, plain = new_data_key(), os.urandom(2 * CHUNK + 5)
    sealed = seal(key, plain)
    header = len(sealed) - (2 * (CHUNK + 16) + 5 + 16)
    cut = sealed[: header + 2 * (CHUNK + 16)]  # the last chunk dropped whole
    with pytest.raises(VideoUnreadable):
        opened(key, cut)
    with pytest.raises(VideoUnreadable):
        opened(key, b"not sealed at all")

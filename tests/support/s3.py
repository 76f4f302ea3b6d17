"""moto's S3 in server mode on a loopback port, for the real boto3 to talk to over HTTP
(moto docs, server_mode.rst). Parts are 64 KiB, S3's 5 MiB minimum lowered through
``S3_UPLOAD_PART_MIN_SIZE``, which moto reads once, when ``moto.s3.models`` is first
imported: every test module of a process must start moto here, with this size."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PART = 64 * 1024


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server, stopped on exit."""
    before = os.environ.get("S3_UPLOAD_PART_MIN_SIZE")
    os.environ["S3_UPLOAD_PART_MIN_SIZE"] = str(PART)
    try:
        import moto.s3.models
        from moto.server import ThreadedMotoServer
    finally:
        if before is None:
            os.environ.pop("S3_UPLOAD_PART_MIN_SIZE")
        else:
            os.environ["S3_UPLOAD_PART_MIN_SIZE"] = before
    assert moto.s3.models.S3_UPLOAD_PART_MIN_SIZE == PART, "moto was imported earlier"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )

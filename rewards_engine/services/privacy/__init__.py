"""The donor's side of the bargain: consent they can withdraw, what each clip is used
for, an export of everything held about them, erasure on request, retention, and a
public transparency report.

Erasure keeps what the law requires (the ledger and payout records) under the donor's
numeric id, which then no longer links to anyone: the account id, names, payout
destinations, addresses, clip metadata, medals and wall entries are gone.

One module per part, each importing only the ones above it in this list:

- ``usage``: what each clip is used for, and the clips training may use;
- ``exporting``: everything held about a donor, streamed as one JSON document;
- ``erasure``: erasure requests and the job that carries them out;
- ``retention``: clip metadata deleted when its campaign's retention period ends;
- ``transparency_report``: the public report.

This module re-exports what the rest of the code calls, as ``privacy.<name>``
(``privacy.export`` and ``privacy.transparency`` are the functions; their modules are
``exporting`` and ``transparency_report``).
"""

from rewards_engine.services.privacy.erasure import (
    ERASED,
    DataRequestView,
    erase,
    get_request,
    request_erasure,
    run_erasures,
    scrub_clips,
    subject_hash,
)
from rewards_engine.services.privacy.exporting import export
from rewards_engine.services.privacy.retention import apply_retention
from rewards_engine.services.privacy.transparency_report import TRANSPARENCY_TTL, transparency
from rewards_engine.services.privacy.usage import ClipView, clip_view, list_clips, training_clips

__all__ = [
    "ERASED",
    "TRANSPARENCY_TTL",
    "ClipView",
    "DataRequestView",
    "apply_retention",
    "clip_view",
    "erase",
    "export",
    "get_request",
    "list_clips",
    "request_erasure",
    "run_erasures",
    "scrub_clips",
    "subject_hash",
    "training_clips",
    "transparency",
]

"""A living demo: the program's past weeks, built once from ``fixtures/demo_activity.toml``.

Everything goes through the same use cases as real traffic (consent, submissions,
uploads and their verification, support adjustments, redemptions, vesting, the fraud
scan, payout batches), each at the moment it would have happened (a clock moved to
each donation), so that the app and the console show a believable program on first
run: populated boards, medals, balances to spend, a redemption and a fraud flag to
handle, a payout batch to settle.

Each donated clip is a real video, tiny (``rewards_engine.media.synthetic``), claimed,
put into the video store as the app would upload it, completed, then verified by the
verify-uploads job's own code (``services.verification``): the engine measures and
pays the demo's videos as it does any donor's.

One module per part, each importing only the ones above it in this list:

- ``app``: ``DemoApp``, the app that donates (``PlannedClip``s, in ``Call``s);
- ``population``: the donors, their cameras and how they donate;
- ``aftermath``: what happened after the donations;
- ``activity``: ``build_activity``, the weeks built once.

This module re-exports what the rest of the code calls, as ``demo.<name>``.
"""

from rewards_engine.services.demo.activity import FILE, DemoReport, build_activity
from rewards_engine.services.demo.aftermath import SUPPORT
from rewards_engine.services.demo.app import (
    VERIFIED_AFTER,
    VIDEO_TYPE,
    Call,
    DemoApp,
    PlannedClip,
)
from rewards_engine.services.demo.population import CAMERA_MODELS, DEVICE_CLOUD

__all__ = [
    "CAMERA_MODELS",
    "DEVICE_CLOUD",
    "FILE",
    "SUPPORT",
    "VERIFIED_AFTER",
    "VIDEO_TYPE",
    "Call",
    "DemoApp",
    "DemoReport",
    "PlannedClip",
    "build_activity",
]

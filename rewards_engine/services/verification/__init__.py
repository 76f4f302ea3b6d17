"""Verifying uploaded videos, then deciding their clips: the engine pays only for a
video it received and checked.

A run takes a few uploaded claims under a lease, renewed as it goes from one video to
the next (a killed run frees them when its lease ends), reads each video from the
store, measures it (SHA-256 of the bytes, PyAV's probe, the engine's own perceptual
hash) and, per submission batch, decides the clips exactly as a submission does
(``deciding``), with the donor locked. Only a claim this run still holds (its lease) is
decided, so two runs never decide one claim twice; a run that lost a claim deletes the
sealed copy it stored unless the claim's clip keeps it. A claim whose check began and
never finished three times (a video that kills the verifier) is rejected as
``unverifiable``; a claim merely taken by a run that died, or whose check failed
because the store did, loses nothing. A video that is refused, or whose clip earns
nothing (a duplicate, a cap), is deleted once the decision commits; a kept one is
stored sealed with its donor's data key (rewards_engine/video_crypto.py) and its plain
upload deleted.

One module per part, each importing only the ones above it in this list:

- ``report``: ``VerificationReport``, what a run did;
- ``leases``: claims taken by one run, renewed, changed only while held;
- ``measuring``: the video copied, measured and stored sealed;
- ``decisions``: one submission batch's claims decided;
- ``runs``: ``verify_uploads``, one run of the verify-uploads job.

This module re-exports what the rest of the code calls, as ``verification.<name>``.
"""

from rewards_engine.services.verification.decisions import SYSTEM
from rewards_engine.services.verification.report import VerificationReport
from rewards_engine.services.verification.runs import verify_uploads

__all__ = ["SYSTEM", "VerificationReport", "verify_uploads"]

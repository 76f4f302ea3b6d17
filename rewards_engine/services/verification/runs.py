"""One run of verify-uploads: take, measure and seal, decide per batch, delete.

The claims are measured one by one, the run's leases renewed before each, then decided
per submission batch; the videos a decision leaves unwanted are deleted once it commits
(one the store fails to delete is deleted again by the expiry sweep).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from rewards_engine.domain.uploads import MAX_VERIFY_ATTEMPTS, Rejection
from rewards_engine.runtime import Runtime
from rewards_engine.services.verification.decisions import _decide_batch
from rewards_engine.services.verification.leases import (
    _mark_attempt,
    _release,
    _renew,
    _take,
    _Taken,
)
from rewards_engine.services.verification.measuring import (
    _measure_and_seal,
    _Measured,
    _StoreTrouble,
)
from rewards_engine.services.verification.report import VerificationReport

log = logging.getLogger(__name__)


def verify_uploads(
    runtime: Runtime,
    *,
    limit: int | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> VerificationReport:
    """Verify up to ``limit`` uploaded claims (default: the configured batch).

    ``attempts`` counts the checks of a claim's video that began and never finished (the
    process died on it, or the check raised): only those count towards ``unverifiable``.
    A claim taken but not reached when its run died, or whose check finished, costs
    nothing; nor does a store that fails (the claim is given up, its attempt refunded,
    and taken again after a lease's pause). So a video that kills the verifier costs no
    other claim its chances. A failure on one claim does not stop the others; the run
    raises the first one once it has decided what it could.
    """
    settings = runtime.settings.uploads
    report = VerificationReport()
    taken = _take(runtime, limit or settings.verify_batch, settings.verify_lease_s)
    report.taken = len(taken)
    held = {item.claim.id: item for item in taken}
    measured: dict[int, _Measured] = {}
    errors: list[BaseException] = []
    for done, item in enumerate(taken, start=1):
        claim = item.claim
        _renew(runtime, held, settings.verify_lease_s)
        if claim.id in held and not _mark_attempt(runtime, item, claim.attempts + 1):
            del held[claim.id]  # taken over meanwhile
        if claim.id not in held:
            pass
        elif claim.attempts + 1 > MAX_VERIFY_ATTEMPTS:
            measured[claim.id] = _Measured(Rejection.UNVERIFIABLE.value)
        else:
            try:
                measured[claim.id] = _measure_and_seal(runtime, claim)
            except _StoreTrouble as trouble:
                _release(runtime, item, claim.attempts, settings.verify_lease_s)
                del held[claim.id]
                report.released += 1
                errors.append(trouble.__cause__ or trouble)
            except Exception as exc:  # the check broke on this video: the attempt counts
                del held[claim.id]
                report.failed += 1
                errors.append(exc)
            else:
                _mark_attempt(runtime, item, claim.attempts)  # it finished: refunded
        if on_progress:
            on_progress("videos measured", done, len(taken))
    by_batch: dict[int, list[_Taken]] = defaultdict(list)
    for item in taken:
        if item.claim.id in measured:
            by_batch[item.claim.batch_id].append(item)
    for items in by_batch.values():
        for key in _decide_batch(runtime, items, measured, report):
            try:
                runtime.video_store.delete(key)
            except Exception:  # the expiry sweep deletes it again (uploads.sweep)
                report.deletions_failed += 1
            else:
                report.objects_deleted += 1
    report.lost = report.taken - report.released - report.failed
    report.lost -= sum(report.decided.values()) + sum(report.rejected.values())
    log.info("uploads verified", extra={"fields": report.as_dict()})
    if errors:
        for error in errors:
            log.warning(
                "a video could not be checked",
                extra={"fields": {"error": type(error).__name__}},
            )
        raise errors[0]
    return report

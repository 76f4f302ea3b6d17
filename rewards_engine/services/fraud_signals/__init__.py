"""The fraud signals: each reads the clips (mostly as SQL aggregates) and returns
findings. A full scan reads all clips; an incremental scan only what new clips can
have changed (their cameras, donors, days, hashes, calls).

One module per rule family, each importing only ``base``:

- ``base``: what every signal shares: the ``Scope`` of a scan, the ``HashIndex`` of
  perceptual hashes the scheduler keeps between scans, the ``Signal`` signature, and the
  helpers that read what new clips touched and the clips each piece of evidence names;
- ``velocity``: more footage per camera in an hour or a day than the hour or the day holds;
- ``cohort``: a donor's accepted clips in a day far above the campaign's donors' that day;
- ``duplicates``: the same video from several donors, perceptual hashes a few bits apart;
- ``staging``: one moment claimed as more events than cameras filmed it, one event with
  more clips than its cameras or the campaign pays;
- ``shared_identities``: one payout destination or one camera under several accounts;
- ``backfill``: many old clips donated in one call, and donors whose share of staged
  clips or clips per camera per day is far above their campaign's.

This module holds the registry, ``SIGNALS`` (a rule's code to the signal that runs it),
and re-exports what the rest of the code calls, as ``fraud_signals.<name>``.
"""

from rewards_engine.services.fraud_signals.backfill import backfill_dump, staged_share
from rewards_engine.services.fraud_signals.base import (
    CLIP_ID_LIMIT,
    COUNTED,
    HashIndex,
    Scope,
    Signal,
)
from rewards_engine.services.fraud_signals.cohort import cohort_outlier
from rewards_engine.services.fraud_signals.duplicates import exact_duplicate, near_duplicate
from rewards_engine.services.fraud_signals.shared_identities import shared_identity
from rewards_engine.services.fraud_signals.staging import staging_fanout
from rewards_engine.services.fraud_signals.velocity import velocity

SIGNALS: dict[str, Signal] = {
    "velocity": velocity,
    "cohort_outlier": cohort_outlier,
    "exact_duplicate": exact_duplicate,
    "near_duplicate": near_duplicate,
    "staging_fanout": staging_fanout,
    "shared_identity": shared_identity,
    "backfill_dump": backfill_dump,
    "staged_share": staged_share,
}

__all__ = [
    "CLIP_ID_LIMIT",
    "COUNTED",
    "SIGNALS",
    "HashIndex",
    "Scope",
    "Signal",
    "backfill_dump",
    "cohort_outlier",
    "exact_duplicate",
    "near_duplicate",
    "shared_identity",
    "staged_share",
    "staging_fanout",
    "velocity",
]

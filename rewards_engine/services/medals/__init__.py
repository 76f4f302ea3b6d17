"""Medals: awarded exactly once, explained, revocable, and retroactive with a dry run.

- Count and per-period medals are decided in the transaction that accepts the clips
  (they read the donor's tallies, kept in that same transaction).
- Streaks, placements and campaign goals are decided by the ``medals-evaluate`` job.
- A database unique key on (donor, medal, period key) makes a second award of the
  same medal impossible, whoever races for it; the bonus points are posted only by
  the insert that won, through the ledger, with the award as reference.
- When the evidence of an award is reversed (a reversed clip takes a count below the
  threshold of the version that granted it), the award is revoked, visibly, and its
  bonus taken back. A later change of a definition never revokes on its own: only a
  backfill applies it to the past, after a dry run shows who gains and who loses.

One module per part, each importing only the ones above it in this list:

- ``definitions``: the medals as versioned data, and the admin's changes to them;
- ``_common``: the measures every part judges by (tallies, periods, local days, the
  review window);
- ``awards``: granting and revoking, and the medals decided with the clips;
- ``evaluation``: the scheduled job (streaks, placements, campaign goals, confirming
  provisional streaks);
- ``backfilling``: a definition applied to the past, after a dry run;
- ``screen``: reading, for the donor's medal screen and its notifications;
- ``art``: how the screen is shown (art URLs, language, secret placeholders);
- ``rarity``: the share of active donors holding each medal (a job).

This module re-exports what the rest of the code calls, as ``medals.<name>``
(``medals.backfill`` is the function; its module is ``backfilling``).
"""

from rewards_engine.services.medals._common import DEFAULT_REVIEW_WINDOW
from rewards_engine.services.medals.art import MedalDisplay, medal_display
from rewards_engine.services.medals.awards import IN_TRANSACTION, SYSTEM, Grant, evaluate_donor
from rewards_engine.services.medals.backfilling import BackfillReport, Change, backfill
from rewards_engine.services.medals.definitions import (
    Catalog,
    Definition,
    DefinitionInput,
    DefinitionVersion,
    list_definitions,
    retire_definition,
    save_definition,
)
from rewards_engine.services.medals.evaluation import JobReport, evaluate_scheduled
from rewards_engine.services.medals.rarity import refresh_rarity
from rewards_engine.services.medals.screen import (
    MedalView,
    Progress,
    donor_medals,
    mark_read,
    notifications,
)

__all__ = [
    "DEFAULT_REVIEW_WINDOW",
    "IN_TRANSACTION",
    "SYSTEM",
    "BackfillReport",
    "Catalog",
    "Change",
    "Definition",
    "DefinitionInput",
    "DefinitionVersion",
    "Grant",
    "JobReport",
    "MedalDisplay",
    "MedalView",
    "Progress",
    "backfill",
    "donor_medals",
    "evaluate_donor",
    "evaluate_scheduled",
    "list_definitions",
    "mark_read",
    "medal_display",
    "notifications",
    "refresh_rarity",
    "retire_definition",
    "save_definition",
]

"""Fraud scans, flags and their review by a person.

A scan runs every enabled rule (``fraud_signals``) and records what it found as
evidence, each piece once: evidence already recorded, or covered by a dismissal, opens
nothing. New evidence joins the donor's open flag for that rule, or opens one. A flag
of high severity puts the donor on hold. A person then confirms the flag (the clips it
names are reversed, with what they earned; the hold stays; optionally a ban) or
dismisses it (the hold is released unless another high flag keeps it).

The package's parts: ``scanning`` (scans and the evidence and flags they record),
``resolution`` (a person's decision), ``review`` (the queue and a flag's evidence) and
``rules`` (the rules' settings).
"""

from rewards_engine.services.fraud.resolution import Resolution, resolve
from rewards_engine.services.fraud.review import (
    EvidenceView,
    FlagDetail,
    FlagView,
    flag_detail,
    list_flags,
)
from rewards_engine.services.fraud.rules import RuleView, list_rules, update_rule
from rewards_engine.services.fraud.scanning import (
    ScanReport,
    hash_index,
    scan,
)

__all__ = [
    "EvidenceView",
    "FlagDetail",
    "FlagView",
    "Resolution",
    "RuleView",
    "ScanReport",
    "flag_detail",
    "hash_index",
    "list_flags",
    "list_rules",
    "resolve",
    "scan",
    "update_rule",
]

"""Payout rails behind one interface: PayPal Payouts, Stripe Connect transfers, manual.

A provider gets a batch whose ids were derived from ours and committed before the
call, so that calling it again after a crash or a timeout is safe: PayPal answers a
repeated ``PayPal-Request-Id`` with the first response; Stripe does the same for an
``Idempotency-Key`` (for 24 hours: older unknown outcomes are looked up first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from rewards_engine.domain.payouts import DestinationKind, ItemStatus


@dataclass(frozen=True)
class OutgoingItem:
    item_id: int
    sender_item_id: str
    amount_cents: int
    currency: str
    destination_kind: DestinationKind
    destination: str  # decrypted, only for the call


@dataclass(frozen=True)
class OutgoingBatch:
    batch_id: int
    sender_batch_id: str
    currency: str
    items: list[OutgoingItem]
    provider_batch_id: str | None = None
    # How long ago it was first sent (None: never), for providers whose idempotency
    # keys expire: past that, what was made is looked up before anything is sent again.
    first_sent_ago: timedelta | None = None


@dataclass(frozen=True)
class ItemOutcome:
    sender_item_id: str
    status: ItemStatus
    provider_item_id: str | None = None
    provider_status: str | None = None
    error: str | None = None


@dataclass
class Submitted:
    """What a submission established: the provider's batch id, and outcomes already known."""

    provider_batch_id: str | None
    outcomes: list[ItemOutcome] = field(default_factory=list)
    complete: bool = False  # every item has a final outcome (no polling needed)
    unsent: int = 0  # items whose call got no answer: send again, with the same keys


class ProviderUnavailable(Exception):
    """No answer, or a transient error: the outcome is unknown; retry with the same ids."""


class ProviderRejected(Exception):
    """The provider refused the batch as a whole: nothing was paid."""


class DuplicateBatch(Exception):
    """The provider says this batch id was used, and we do not know its batch: a person
    must look it up (the money stays in flight meanwhile)."""


class PayoutProvider(Protocol):
    name: str
    max_items: int

    def submit(self, batch: OutgoingBatch) -> Submitted: ...

    def poll(self, batch: OutgoingBatch) -> Submitted: ...

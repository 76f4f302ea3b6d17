"""Payout rails behind one interface: PayPal Payouts, Stripe Connect transfers, manual.

A provider gets a batch whose ids were derived from ours and committed before the
call, so that calling it again after a crash or a timeout makes nothing twice: PayPal
refuses a ``sender_batch_id`` used in the last 30 days (with its duplicate error, which
says the batch exists; it does not replay ``PayPal-Request-Id`` on batch create);
Stripe answers a repeated ``Idempotency-Key`` with the first response (for 24 hours:
older unknown outcomes are looked up first).

A provider reads its answer into one of these: :class:`Submitted` (made),
:class:`DuplicateBatch` (it exists already), :class:`ProviderRejected` (a documented
refusal: nothing was made), :class:`ProviderUnclear` (an answer that says neither),
:class:`ProviderUnavailable` (no answer). Only the service decides what that does to
the money (``domain.payouts.after_send``).
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


@dataclass(frozen=True)
class VerifiedEvent:
    """A provider's webhook whose signature verified, read into our terms."""

    event_id: str
    event_type: str
    outcomes: list[ItemOutcome] = field(default_factory=list)


class InvalidSignature(Exception):
    """A webhook whose signature does not verify: it did not come from the provider."""


class ProviderUnavailable(Exception):
    """No answer, or a transient error: the outcome is unknown; retry with the same ids."""


class ProviderUnclear(Exception):
    """An answer that says neither made nor refused (an undocumented 4xx, a success
    without a batch id): the outcome is unknown and sending again will not tell."""


class ProviderRejected(Exception):
    """A documented refusal of the request as a whole (validation): nothing was made
    by this request. Whether an earlier attempt made the batch, it cannot say."""


class DuplicateBatch(Exception):
    """The provider says this batch id was used: the batch exists (made by an earlier
    attempt). ``provider_batch_id`` is its id when the answer links to it."""

    def __init__(self, message: str, provider_batch_id: str | None = None) -> None:
        super().__init__(message)
        self.provider_batch_id = provider_batch_id


class BatchMismatch(Exception):
    """The provider's batch with the id we were given is not ours (another
    ``sender_batch_id``), or does not exist: nothing may be applied from it."""


class PayoutProvider(Protocol):
    name: str
    max_items: int

    def submit(self, batch: OutgoingBatch) -> Submitted: ...

    def poll(self, batch: OutgoingBatch) -> Submitted: ...

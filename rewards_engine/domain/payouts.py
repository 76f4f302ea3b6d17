"""Payout rules: destinations, item states, what each outcome does to the ledger.

An item moves ``queued -> submitted -> (succeeded | failed | ... )``. What the
provider finally says decides the ledger move:

- succeeded: in flight -> paid (the program's payouts account);
- failed, returned, blocked, denied, cancelled: in flight -> available again;
- refunded or reversed after success: paid -> available again (the money came back);
- unclaimed, on hold, pending: stays in flight until a final answer (PayPal returns an
  unclaimed payment after 30 days).

A batch moves ``created -> submitting -> submitted -> completed``. Once a send was
attempted the batch may exist at the provider, so only a per-item outcome from the
provider (a poll or a verified webhook) moves money out of in flight: every other
answer leaves the money where it is and the batch ``unknown`` (sent again with the same
ids) or ``needs_attention`` (a person looks). :func:`after_send` is that rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rewards_engine.domain.errors import InvalidInput

PAYPAL_MAX_ITEMS = 15_000  # PayPal Payouts takes at most this many items a batch
# PayPal refuses a sender_batch_id used in the last 30 days: a resend after that could
# make a second batch, so nothing is sent again once the first send is this old.
RESEND_WINDOW = timedelta(days=29)


class DestinationKind(StrEnum):
    PAYPAL_EMAIL = "paypal_email"
    PAYPAL_ID = "paypal_id"
    STRIPE_ACCOUNT = "stripe_account"

    @property
    def provider(self) -> str:
        return "stripe" if self is DestinationKind.STRIPE_ACCOUNT else "paypal"


_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PAYER_ID = re.compile(r"^[A-Z0-9]{13}$")
_STRIPE = re.compile(r"^acct_[A-Za-z0-9]{8,40}$")


def parse_destination(kind: str, value: str) -> tuple[DestinationKind, str]:
    """A valid destination, normalised; or :class:`InvalidInput` naming the field."""
    try:
        which = DestinationKind(kind)
    except ValueError:
        raise InvalidInput(
            "payout.kind is paypal_email, paypal_id or stripe_account", field="payout.kind"
        ) from None
    value = value.strip()
    if which is DestinationKind.PAYPAL_EMAIL:
        value = value.lower()
        if len(value) > 254 or not _EMAIL.match(value):
            raise InvalidInput(
                "not an e-mail address PayPal can pay",
                code="invalid_destination",
                field="payout.value",
            )
    elif which is DestinationKind.PAYPAL_ID:
        if not _PAYER_ID.match(value):
            raise InvalidInput(
                "a PayPal payer id has 13 capital letters and digits",
                code="invalid_destination",
                field="payout.value",
            )
    elif not _STRIPE.match(value):
        raise InvalidInput(
            "a Stripe Connect account id looks like acct_1A2b3C4d5E6f",
            code="invalid_destination",
            field="payout.value",
        )
    return which, value


def mask(kind: DestinationKind, value: str) -> str:
    """What people other than the donor see: enough to recognise it, not to use it."""
    if kind is DestinationKind.PAYPAL_EMAIL:
        name, _, domain = value.partition("@")
        return f"{name[0]}***@{domain}"
    return (
        f"{value[:5]}…{value[-4:]}" if kind is DestinationKind.STRIPE_ACCOUNT else f"…{value[-4:]}"
    )


class ItemStatus(StrEnum):
    QUEUED = "queued"  # committed, not sent yet (or sent without a known answer)
    SUBMITTED = "submitted"
    PENDING = "pending"
    UNCLAIMED = "unclaimed"
    ONHOLD = "onhold"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETURNED = "returned"
    BLOCKED = "blocked"
    DENIED = "denied"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    REVERSED = "reversed"


IN_FLIGHT = frozenset(
    {
        ItemStatus.QUEUED,
        ItemStatus.SUBMITTED,
        ItemStatus.PENDING,
        ItemStatus.UNCLAIMED,
        ItemStatus.ONHOLD,
    }
)
NOT_PAID = frozenset(
    {
        ItemStatus.FAILED,
        ItemStatus.RETURNED,
        ItemStatus.BLOCKED,
        ItemStatus.DENIED,
        ItemStatus.CANCELLED,
    }
)
CAME_BACK = frozenset({ItemStatus.REFUNDED, ItemStatus.REVERSED})

# PayPal's transaction_status values (and webhook event suffixes) in our terms.
PAYPAL_STATUS = {
    "SUCCESS": ItemStatus.SUCCEEDED,
    "SUCCEEDED": ItemStatus.SUCCEEDED,
    "FAILED": ItemStatus.FAILED,
    "PENDING": ItemStatus.PENDING,
    "NEW": ItemStatus.PENDING,
    "UNCLAIMED": ItemStatus.UNCLAIMED,
    "RETURNED": ItemStatus.RETURNED,
    "ONHOLD": ItemStatus.ONHOLD,
    "HELD": ItemStatus.ONHOLD,
    "BLOCKED": ItemStatus.BLOCKED,
    "REFUNDED": ItemStatus.REFUNDED,
    "REVERSED": ItemStatus.REVERSED,
    "DENIED": ItemStatus.DENIED,
    "CANCELED": ItemStatus.CANCELLED,
    "CANCELLED": ItemStatus.CANCELLED,
}


class BatchStatus(StrEnum):
    CREATED = "created"  # committed, never sent: nothing can exist at the provider
    SUBMITTING = "submitting"  # a sender holds the batch (or died holding it)
    UNKNOWN = "unknown"  # sent, no clear answer: sent again with the same ids
    SUBMITTED = "submitted"  # the provider has it: polled until every item is final
    COMPLETED = "completed"
    REJECTED = "rejected"  # refused on its first send: the money went back
    NEEDS_ATTENTION = "needs_attention"  # sent, answer unclear or batch not found: a person


SENDABLE = frozenset({BatchStatus.CREATED, BatchStatus.SUBMITTING, BatchStatus.UNKNOWN})
# A person may give the provider's batch id of these (``attach``).
ATTACHABLE = frozenset({BatchStatus.UNKNOWN, BatchStatus.NEEDS_ATTENTION})


class SendAnswer(StrEnum):
    """What a provider's answer to a batch submission establishes."""

    ACCEPTED = "accepted"  # it made the batch and said so
    DUPLICATE_FOUND = "duplicate_found"  # "already exists", with the batch's id
    DUPLICATE = "duplicate"  # "already exists", without an id
    REFUSED = "refused"  # a documented validation refusal: nothing was made
    UNCLEAR = "unclear"  # an answer we cannot read as made or not made
    NO_ANSWER = "no_answer"  # timeout, reset, 5xx, refused tokens: try again


@dataclass(frozen=True)
class SendDecision:
    status: BatchStatus
    return_money: bool = False  # only a refusal of the very first send returns it


def after_send(answer: SendAnswer, *, first_send: bool) -> SendDecision:
    """The batch's state after a submission, and whether its money may go back.

    A refusal returns the money only on the first send: before it nothing with this
    ``sender_batch_id`` can have reached the provider, and a validation refusal means
    nothing was made. On a resend the earlier attempt may have made the batch (PayPal
    answers a repeat with its duplicate error, but whether it validates first is not
    documented), so the money stays in flight and a person looks. A duplicate answer
    is never a refusal: it says the batch exists.
    """
    if answer in (SendAnswer.ACCEPTED, SendAnswer.DUPLICATE_FOUND):
        return SendDecision(BatchStatus.SUBMITTED)
    if answer is SendAnswer.NO_ANSWER:
        return SendDecision(BatchStatus.UNKNOWN)
    if answer is SendAnswer.REFUSED and first_send:
        return SendDecision(BatchStatus.REJECTED, return_money=True)
    return SendDecision(BatchStatus.NEEDS_ATTENTION)


# What the old engine wrote on the items of a batch it took for refused, although a
# duplicate answer meant PayPal had made it (issue 16): their money went back.
REFUSED_ITEM_ERROR = "batch refused"


def refused_as_duplicate(status: BatchStatus, last_error: str | None) -> bool:
    """A batch the old engine rejected on PayPal's duplicate answer (it exists there)."""
    said = (last_error or "").lower()
    return status is BatchStatus.REJECTED and (
        "sender_batch_id" in said or "duplicate" in said or "already" in said
    )


def late_move(before: ItemStatus, error: str | None, after: ItemStatus) -> str | None:
    """An item failed because its batch was taken for refused, which the provider then
    reports paid: ``late_pay`` moves its amount from available to paid (when the donor's
    available cash still covers it); anything else is left as it is."""
    if (
        before is ItemStatus.FAILED
        and error == REFUSED_ITEM_ERROR
        and after is ItemStatus.SUCCEEDED
    ):
        return "late_pay"
    return None


def ledger_move(before: ItemStatus, after: ItemStatus) -> str | None:
    """Which ledger move a status change calls for: ``pay``, ``return``, ``claw_back``
    or none. Moves only forward: a late, stale answer never undoes a final one."""
    if before in IN_FLIGHT:
        if after is ItemStatus.SUCCEEDED:
            return "pay"
        if after in NOT_PAID:
            return "return"
        if after in CAME_BACK:  # paid and refunded before we heard of the payment
            return "return"
        return None
    if before is ItemStatus.SUCCEEDED and after in CAME_BACK:
        return "claw_back"
    return None


def accepts(before: ItemStatus, after: ItemStatus) -> bool:
    """Whether a reported status may replace the current one (statuses never go back)."""
    if before == after:
        return False
    if before in IN_FLIGHT:
        return True
    return before is ItemStatus.SUCCEEDED and after in CAME_BACK


def period_of(moment: datetime) -> str:
    """The earning period a payout pays: the ISO week (one payout per donor per week)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def tax_threshold_cents(year: int) -> int:
    """US 1099 reporting threshold: $600 for payments through 2025, $2,000 from 2026."""
    return 60_000 if year <= 2025 else 200_000

"""Ledger rules: which accounts exist, and what makes a transfer valid."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

POINTS = "PTS"  # the currency code of points
PROGRAM = "program"


class AccountKind(StrEnum):
    # A donor's accounts
    POINTS_PENDING = "points_pending"  # earned, inside the review window
    POINTS_AVAILABLE = "points_available"  # spendable
    CASH_PENDING = "cash_pending"
    CASH_AVAILABLE = "cash_available"  # payable
    CASH_IN_FLIGHT = "cash_in_flight"  # in a payout batch, not yet confirmed
    # The program's accounts (the other side of every donor movement)
    REWARDS_ISSUED = "rewards_issued"  # source of earnings, bonuses, adjustments
    REDEMPTIONS = "redemptions"  # points spent on rewards
    PAYOUTS = "payouts"  # cash paid out through a provider


class TransferKind(StrEnum):
    EARNING = "earning"
    VESTING = "vesting"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    BONUS = "bonus"
    REDEMPTION = "redemption"
    REFUND = "refund"
    PAYOUT = "payout"


def donor_owner(donor_id: int) -> str:
    return f"donor:{donor_id}"


@dataclass(frozen=True)
class AccountRef:
    owner: str
    kind: AccountKind
    currency: str

    @property
    def donor_id(self) -> int | None:
        return int(self.owner.split(":", 1)[1]) if self.owner.startswith("donor:") else None

    @classmethod
    def donor(cls, donor_id: int, kind: AccountKind, currency: str) -> AccountRef:
        return cls(donor_owner(donor_id), kind, currency)

    @classmethod
    def program(cls, kind: AccountKind, currency: str) -> AccountRef:
        return cls(PROGRAM, kind, currency)


@dataclass(frozen=True)
class Leg:
    account: AccountRef
    amount: int
    # When true, the transfer fails rather than take this account below zero.
    keep_non_negative: bool = False


class UnbalancedTransfer(ValueError):
    """Legs of a transfer must sum to zero in each currency (a bug, never user input)."""


def check_balanced(legs: Iterable[Leg]) -> None:
    totals: dict[str, int] = defaultdict(int)
    count = 0
    for leg in legs:
        if leg.amount == 0:
            raise UnbalancedTransfer("a leg of zero moves nothing")
        totals[leg.account.currency] += leg.amount
        count += 1
    if count < 2:
        raise UnbalancedTransfer("a transfer needs two legs at least")
    off = {currency: total for currency, total in totals.items() if total}
    if off:
        raise UnbalancedTransfer(f"legs do not balance: {off}")


def issue(donor_id: int, kind: AccountKind, currency: str, amount: int) -> list[Leg]:
    """The program credits (or, negative, debits) a donor account."""
    return [
        Leg(AccountRef.donor(donor_id, kind, currency), amount),
        Leg(AccountRef.program(AccountKind.REWARDS_ISSUED, currency), -amount),
    ]


def move(
    donor_id: int,
    source: AccountKind,
    target: AccountKind,
    currency: str,
    amount: int,
    *,
    keep_source_non_negative: bool = False,
) -> list[Leg]:
    """Move an amount between two accounts of one donor."""
    return [
        Leg(AccountRef.donor(donor_id, source, currency), -amount, keep_source_non_negative),
        Leg(AccountRef.donor(donor_id, target, currency), amount),
    ]


def earnings(
    donor_id: int, points: int, cash_cents: int, currency: str, *, vested: bool = False
) -> list[Leg]:
    """Credit (or, negative, take back) earned points and cash, pending or vested."""
    legs: list[Leg] = []
    if points:
        kind = AccountKind.POINTS_AVAILABLE if vested else AccountKind.POINTS_PENDING
        legs += issue(donor_id, kind, POINTS, points)
    if cash_cents:
        kind = AccountKind.CASH_AVAILABLE if vested else AccountKind.CASH_PENDING
        legs += issue(donor_id, kind, currency, cash_cents)
    return legs

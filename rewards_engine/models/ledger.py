"""The ledger: double-entry, append-only.

A *transfer* is one business event (an earning, a vesting, an adjustment, a
reversal...); its *entries* move amounts between *accounts* and sum to zero per
currency. Donor accounts keep a cached balance, updated in the same transaction as
the entries (``ledger verify`` recomputes it); program accounts (``owner`` =
``program``) keep none, so that no hot row serialises every donor's writes.
Transfers and entries are only ever inserted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, UniqueConstraint

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, timestamp


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner", "kind", "currency"),
        CheckConstraint("donor_id IS NULL OR owner = 'donor:' || donor_id", name="owner_matches"),
    )

    id: int = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64)  # "donor:<id>" or "program"
    donor_id: int | None = Field(default=None, foreign_key="donors.id", index=True)
    kind: str = Field(max_length=24)  # points_pending, points_available, cash_pending, ...
    currency: str = Field(max_length=3)  # "PTS" for points, ISO 4217 for cash
    balance: int = Field(default=0, sa_type=BigInteger())
    created_at: datetime = timestamp()


class LedgerTransfer(SQLModel, table=True):
    __tablename__ = "ledger_transfers"
    __table_args__ = (Index("ix_ledger_transfers_reference", "reference_type", "reference_id"),)

    id: int = big_id()
    kind: str = Field(max_length=24)  # earning, vesting, adjustment, reversal, ...
    reference_type: str = Field(max_length=24)  # batch, clip, donor, redemption, payout_item
    reference_id: str = Field(max_length=64)
    actor: str = Field(max_length=160)  # "system:<job>", "support:<sub>", "donor:<donor id>"
    reason: str | None = Field(default=None, max_length=500)
    idempotency_key: str = Field(max_length=200, unique=True)
    reverses_id: int | None = Field(
        default=None, sa_type=BIG_INT, sa_column_args=[ForeignKey("ledger_transfers.id")]
    )
    created_at: datetime = timestamp(index=True)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: int = big_id()
    transfer_id: int = Field(sa_type=BIG_INT, sa_column_args=[ForeignKey("ledger_transfers.id")])
    account_id: int = Field(foreign_key="ledger_accounts.id")
    amount: int = Field(sa_type=BigInteger())
    created_at: datetime = timestamp()

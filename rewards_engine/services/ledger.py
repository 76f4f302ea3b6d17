"""Posting transfers, reading balances and verifying the ledger.

``post`` is called inside another use case's transaction; it never commits. The
transfer's idempotency key is unique in the database, so posting the same business
event twice (a retried job, a replayed request) records it once.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, case, func, select, true, union_all, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import (
    Database,
    dialect_of,
    insert,
    insert_of,
    one_of,
    one_of_bound,
    table_of,
)
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, Unavailable
from rewards_engine.domain.ledger import (
    POINTS,
    AccountKind,
    AccountRef,
    Leg,
    TransferKind,
    check_balanced,
    donor_owner,
)
from rewards_engine.models import (
    CampaignCounter,
    Clip,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
)
from rewards_engine.pagination import Page, check_limit, decode_cursor, encode_cursor
from rewards_engine.services.ledger_accounts import account_ids, forget


def post(
    session: Session,
    *,
    now: datetime,
    kind: TransferKind,
    reference: tuple[str, str | int],
    actor: Actor,
    idempotency_key: str,
    legs: Sequence[Leg],
    reason: str | None = None,
    reverses_id: int | None = None,
) -> int | None:
    """Record one transfer and return its id; None if a transfer with this key exists
    already.

    Donor balances move in the same statement that checks them: a leg marked
    ``keep_non_negative`` that would go below zero raises :class:`Conflict` and the
    caller's whole transaction rolls back.
    """
    check_balanced(legs)
    inserted = session.execute(
        _transfer_insert(dialect_of(session)),
        {
            "kind": kind.value,
            "reference_type": reference[0],
            "reference_id": str(reference[1]),
            "actor": actor.id,
            "reason": reason,
            "idempotency_key": idempotency_key,
            "reverses_id": reverses_id,
            "created_at": now,
        },
    ).scalar()
    if inserted is None:
        return None
    ids = account_ids(session, [leg.account for leg in legs], now)
    # Program accounts keep no cached balance (no hot row): only donors' move.
    moves: dict[int, int] = {}
    for leg in legs:
        if leg.account.donor_id is not None:
            moves[ids[leg.account]] = moves.get(ids[leg.account], 0) + leg.amount
    moved = _move_balances(session, moves) if moves else {}
    for leg in legs:
        account = ids[leg.account]
        if account not in moved:
            continue  # a program account
        balance, moved_account = moved[account]
        if moved_account != leg.account:
            forget(session)  # an id kept from before a restore names another account now
            raise Unavailable("ledger account ids changed under this process; retry", retry_after=1)
        if leg.keep_non_negative and balance < 0:
            available = balance - moves[account]
            raise Conflict(
                f"the {leg.account.kind.value.replace('_', ' ')} balance is {available}; "
                f"it cannot go below zero",
                code="insufficient_balance",
                details={"account": leg.account.kind.value, "balance": available},
            )
    session.execute(
        table_of(LedgerEntry).insert(),
        [
            {
                "transfer_id": inserted,
                "account_id": ids[leg.account],
                "amount": leg.amount,
                "created_at": now,
            }
            for leg in legs
        ],
    )
    return int(inserted)


@functools.cache
def _transfer_insert(dialect: str) -> Any:
    """``post``'s insert of the transfer (none if its key exists), built once per dialect."""
    transfers = table_of(LedgerTransfer)
    return (
        insert_of(dialect, transfers)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(transfers.c.id)
    )


def _move_balances(session: Session, moves: dict[int, int]) -> dict[int, tuple[int, AccountRef]]:
    """Add each amount to its account's balance in one statement; the new balances, with
    the accounts they are (which the caller checks against the ones it meant)."""
    values: dict[str, Any] = {"accounts": list(moves)}
    for n, (account, amount) in enumerate(moves.items()):
        values |= {f"account_{n}": account, f"amount_{n}": amount}
    rows = session.execute(_balances_update(dialect_of(session), len(moves)), values)
    return {i: (balance, AccountRef(o, AccountKind(k), c)) for i, balance, o, k, c in rows}


@functools.cache
def _balances_update(dialect: str, accounts: int) -> Any:
    """``_move_balances``' statement for a number of accounts, built once: bound with
    ``accounts`` (their ids) and ``account_<n>``, ``amount_<n>`` for each."""
    table = table_of(LedgerAccount)
    added = case(
        *[
            (
                table.c.id == bindparam(f"account_{n}", type_=table.c.id.type),
                bindparam(f"amount_{n}", type_=table.c.balance.type),
            )
            for n in range(accounts)
        ]
    )
    return (
        update(table)
        .where(one_of_bound(dialect, table.c.id, "accounts"))
        .values(balance=table.c.balance + added)
        .returning(table.c.id, table.c.balance, table.c.owner, table.c.kind, table.c.currency)
    )


@dataclass(frozen=True)
class TransferSpec:
    """One transfer for ``post_many``: what ``post`` takes, as data."""

    kind: TransferKind
    reference: tuple[str, str | int]
    idempotency_key: str
    legs: Sequence[Leg]
    reason: str | None = None


def post_many(
    session: Session, *, now: datetime, actor: Actor, transfers: Sequence[TransferSpec]
) -> dict[str, int]:
    """Record many transfers in a few statements (a payout batch of 15,000 donors).

    Same guarantees as ``post``: a key already used records nothing; a guarded account
    that would end below zero raises :class:`Conflict` and the caller's transaction
    rolls back. Returns the ids of the transfers recorded, by idempotency key.
    """
    if not transfers:
        return {}
    for spec in transfers:
        check_balanced(spec.legs)
    table = table_of(LedgerTransfer)
    # An executemany with RETURNING: SQLAlchemy sends it as multi-row INSERTs of a
    # bounded size (its "insertmanyvalues"), compiled once, whatever the count.
    rows = session.execute(
        insert(session, table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id, table.c.idempotency_key),
        [
            {
                "kind": t.kind.value,
                "reference_type": t.reference[0],
                "reference_id": str(t.reference[1]),
                "actor": actor.id,
                "reason": t.reason,
                "idempotency_key": t.idempotency_key,
                "created_at": now,
            }
            for t in transfers
        ],
    ).all()
    ids = {key: transfer_id for transfer_id, key in rows}
    recorded = [t for t in transfers if t.idempotency_key in ids]
    if not recorded:
        return {}
    refs = [leg.account for t in recorded for leg in t.legs]
    accounts = account_ids(session, refs, now, kept=False)
    moves: dict[int, int] = {}
    guarded: set[int] = set()
    for transfer in recorded:
        for leg in transfer.legs:
            if leg.account.donor_id is not None:
                account = accounts[leg.account]
                moves[account] = moves.get(account, 0) + leg.amount
                if leg.keep_non_negative:
                    guarded.add(account)
    if moves:
        account_table = table_of(LedgerAccount)
        session.execute(
            account_table.update()
            .where(account_table.c.id == bindparam("account"))
            .values(balance=account_table.c.balance + bindparam("delta")),
            [{"account": account, "delta": delta} for account, delta in moves.items()],
        )
    if guarded:
        below = session.execute(
            select(
                col(LedgerAccount.id), col(LedgerAccount.kind), col(LedgerAccount.balance)
            ).where(one_of(session, col(LedgerAccount.id), guarded), col(LedgerAccount.balance) < 0)
        ).first()
        if below is not None:
            raise Conflict(
                f"the {below.kind.replace('_', ' ')} balance of account {below.id} "
                f"cannot go below zero",
                code="insufficient_balance",
                details={"account": below.kind},
            )
    session.execute(
        table_of(LedgerEntry).insert(),
        [
            {
                "transfer_id": ids[t.idempotency_key],
                "account_id": accounts[leg.account],
                "amount": leg.amount,
                "created_at": now,
            }
            for t in recorded
            for leg in t.legs
        ],
    )
    return ids


@dataclass(frozen=True)
class CashBalance:
    currency: str
    pending_cents: int = 0
    available_cents: int = 0
    in_flight_cents: int = 0


@dataclass(frozen=True)
class Balances:
    points_pending: int = 0
    points_available: int = 0
    cash: list[CashBalance] = field(default_factory=list)

    @property
    def points(self) -> int:
        return self.points_pending + self.points_available


def balances(session: Session, donor_id: int) -> Balances:
    rows = session.execute(
        select(
            col(LedgerAccount.kind), col(LedgerAccount.currency), col(LedgerAccount.balance)
        ).where(col(LedgerAccount.owner) == donor_owner(donor_id))
    ).all()
    points = {kind: balance for kind, currency, balance in rows if currency == POINTS}
    cash: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, currency, balance in rows:
        if currency != POINTS:
            cash[currency][kind] = balance
    return Balances(
        points_pending=points.get(AccountKind.POINTS_PENDING.value, 0),
        points_available=points.get(AccountKind.POINTS_AVAILABLE.value, 0),
        cash=[
            CashBalance(
                currency,
                kinds.get(AccountKind.CASH_PENDING.value, 0),
                kinds.get(AccountKind.CASH_AVAILABLE.value, 0),
                kinds.get(AccountKind.CASH_IN_FLIGHT.value, 0),
            )
            for currency, kinds in sorted(cash.items())
        ],
    )


def donor_balances(db: Database, donor_id: int) -> Balances:
    with db.read() as session:
        return balances(session, donor_id)


@dataclass(frozen=True)
class EntryView:
    """One line of a donor's ledger, as the app shows it."""

    id: int
    created_at: datetime
    account: str
    currency: str
    amount: int
    kind: str
    reference_type: str
    reference_id: str
    reason: str | None
    actor_kind: str  # "system", "support", "admin" or "donor"; never a staff member's id


_ENTRY_COLUMNS = (
    col(LedgerEntry.id),
    col(LedgerEntry.transfer_id),
    col(LedgerEntry.account_id),
    col(LedgerEntry.amount),
    col(LedgerEntry.created_at),
)


def donor_entries(
    db: Database, donor_id: int, *, limit: int, cursor: str | None
) -> Page[EntryView]:
    """The donor's entries, newest first.

    Each of the donor's accounts gives at most a page of its newest entries (before the
    cursor), read backwards on ``ix_ledger_entries_account_id_id``; the page is the
    newest of those. A page thus reads at most a page per account, however long the
    donor's history (docs/capacity.md, R7).
    """
    limit = check_limit(limit)
    position = decode_cursor(cursor, "ledger", (int,))
    with db.read() as session:
        accounts = {
            a.id: a
            for a in session.scalars(
                select(LedgerAccount).where(col(LedgerAccount.owner) == donor_owner(donor_id))
            )
        }
        if not accounts:
            return Page([], None)
        before = position[0] if position is not None else None
        entries = _newest_entries(session, sorted(accounts), before, limit + 1)
        if not entries:
            return Page([], None)
        next_cursor = None
        if len(entries) > limit:
            entries = entries[:limit]
            next_cursor = encode_cursor("ledger", [entries[-1].id])
        transfers = {
            t.id: t
            for t in session.scalars(
                select(LedgerTransfer).where(
                    col(LedgerTransfer.id).in_({e.transfer_id for e in entries})
                )
            )
        }
    views = []
    for entry in entries:
        account, transfer = accounts[entry.account_id], transfers[entry.transfer_id]
        views.append(
            EntryView(
                id=entry.id,
                created_at=entry.created_at,
                account=account.kind,
                currency=account.currency,
                amount=entry.amount,
                kind=transfer.kind,
                reference_type=transfer.reference_type,
                reference_id=transfer.reference_id,
                reason=transfer.reason,
                actor_kind=transfer.actor.split(":", 1)[0],
            )
        )
    return Page(views, next_cursor)


def _newest_entries(
    session: Session, account_ids: list[int], before: int | None, count: int
) -> list[Row[Any]]:
    """The ``count`` newest entries of these accounts (below the id ``before``), newest
    first, reading at most ``count`` entries of each account.

    PostgreSQL: a ``LATERAL`` subquery per account. SQLite has no ``LATERAL``: one
    subquery per account, joined by ``UNION ALL`` (a donor has a handful of accounts).
    """

    def newest_of(account_id: Any) -> Select[int, int, int, int, datetime]:
        query = select(*_ENTRY_COLUMNS).where(col(LedgerEntry.account_id) == account_id)
        if before is not None:
            query = query.where(col(LedgerEntry.id) < before)
        return query.order_by(col(LedgerEntry.id).desc()).limit(count)

    if session.get_bind().dialect.name == "postgresql":
        lateral = newest_of(col(LedgerAccount.id)).lateral("e")
        query = (
            select(lateral)
            .select_from(LedgerAccount)
            .join(lateral, true())
            .where(one_of(session, col(LedgerAccount.id), account_ids))
            .order_by(lateral.c.id.desc())
        )
    else:
        union = union_all(*(newest_of(a).subquery().select() for a in account_ids)).subquery("e")
        query = select(union).order_by(union.c.id.desc())
    return list(session.execute(query.limit(count)).all())


@dataclass
class VerifyReport:
    accounts_checked: int = 0
    transfers_checked: int = 0
    balance_mismatches: list[str] = field(default_factory=list)
    unbalanced_transfers: list[str] = field(default_factory=list)
    counter_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.balance_mismatches or self.unbalanced_transfers or self.counter_mismatches)


def verify(
    db: Database, on_progress: Callable[[str, int, int | None], None] | None = None
) -> VerifyReport:
    """Recompute every cached figure from the facts and list every difference.

    - each donor account's cached balance against the sum of its entries;
    - each transfer's entries sum to zero per currency;
    - each campaign counter against a count of accepted clips.

    ``on_progress(step, done, total)`` hears of the accounts and transfer balances checked.
    """
    report = VerifyReport()
    with db.read() as session:
        sums: dict[int, int | None] = dict(
            session.execute(
                select(col(LedgerEntry.account_id), func.sum(col(LedgerEntry.amount))).group_by(
                    col(LedgerEntry.account_id)
                )
            ).all()
        )
        for account in session.scalars(
            select(LedgerAccount).where(col(LedgerAccount.donor_id).is_not(None))
        ):
            report.accounts_checked += 1
            if on_progress:
                on_progress("accounts", report.accounts_checked, None)
            expected = int(sums.get(account.id) or 0)
            if account.balance != expected:
                report.balance_mismatches.append(
                    f"account {account.id} ({account.owner} {account.kind} {account.currency}): "
                    f"cached {account.balance}, entries sum to {expected}"
                )
        per_transfer = session.execute(
            select(
                col(LedgerEntry.transfer_id),
                col(LedgerAccount.currency),
                func.sum(col(LedgerEntry.amount)),
            )
            .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
            .group_by(col(LedgerEntry.transfer_id), col(LedgerAccount.currency))
        ).all()
        report.transfers_checked = len({transfer_id for transfer_id, _, _ in per_transfer})
        for n, (transfer_id, currency, total) in enumerate(per_transfer, start=1):
            if on_progress:
                on_progress("transfer balances", n, len(per_transfer))
            if total:
                report.unbalanced_transfers.append(
                    f"transfer {transfer_id}: {currency} legs sum to {total}"
                )
        counted = {
            (campaign, kind): count
            for campaign, kind, count in session.execute(
                select(col(Clip.campaign_id), col(Clip.incident_type), func.count())
                .where(col(Clip.status) == "accepted")
                .group_by(col(Clip.campaign_id), col(Clip.incident_type))
            )
        }
        for counter in session.scalars(select(CampaignCounter)):
            actual = counted.pop((counter.campaign_id, counter.incident_type), 0)
            if counter.accepted != actual:
                report.counter_mismatches.append(
                    f"campaign {counter.campaign_id} {counter.incident_type}: "
                    f"counter {counter.accepted}, accepted clips {actual}"
                )
        for (campaign, kind), actual in counted.items():
            report.counter_mismatches.append(
                f"campaign {campaign} {kind}: no counter, accepted clips {actual}"
            )
    return report

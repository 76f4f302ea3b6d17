"""Ledger accounts by owner, kind and currency: found, or created on first use.

An account's id never changes and no account is ever deleted, so a process may keep
the ids it has read: ``account_ids`` asks the database only for those it has not seen
(two round trips fewer in a submission that pays clips and a medal bonus). Only ids read
as committed rows are kept: an account created by the caller's own transaction could
still roll back, and SQLite may hand its id to another account. A database restored from
a backup under running processes breaks the premise (new accounts get old ids):
``ledger.post`` checks every donor account it moves against the account it meant, and
on a mismatch forgets the ids and refuses with a 503, so the retry reads them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import insert, one_of, table_of
from rewards_engine.domain.ledger import AccountKind, AccountRef
from rewards_engine.models import LedgerAccount

KNOWN = "ledger_account_ids"  # Session.info: the process's dict of ids (Runtime.db)
CREATED = "ledger_accounts_created"  # Session.info: accounts this transaction created
KNOWN_MAX = 300_000  # about 100,000 donors' accounts; then forgotten and read again


def account_ids(
    session: Session, refs: Sequence[AccountRef], now: datetime, *, kept: bool = True
) -> dict[AccountRef, int]:
    """The ids of these accounts, creating the missing ones (safe under concurrency).

    ``kept=False`` reads them all from the database: for a caller that does not check
    the accounts it moves (``ledger.post_many``, a weekly batch)."""
    wanted = set(refs)
    known: dict[AccountRef, int] | None = session.info.get(KNOWN) if kept else None
    found: dict[AccountRef, int] = {}
    if known is not None:  # .get: another thread may clear it between a test and a read
        found = {ref: i for ref in wanted if (i := known.get(ref)) is not None}
    if len(found) == len(wanted):
        return found
    read = _lookup(session, {ref.owner for ref in wanted - set(found)})
    if known is not None:
        created = session.info.get(CREATED, set())
        if len(known) >= KNOWN_MAX:
            known.clear()
        known.update((ref, i) for ref, i in read.items() if ref not in created)
    found |= {ref: read[ref] for ref in wanted if ref in read}
    missing = wanted - set(found)
    if missing:
        session.execute(
            insert(session, table_of(LedgerAccount)).on_conflict_do_nothing(),
            [
                {
                    "owner": ref.owner,
                    "donor_id": ref.donor_id,
                    "kind": ref.kind.value,
                    "currency": ref.currency,
                    "balance": 0,
                    "created_at": now,
                }
                for ref in missing
            ],
        )
        session.info.setdefault(CREATED, set()).update(missing)
        read = _lookup(session, {ref.owner for ref in missing})
        found |= {ref: read[ref] for ref in missing if ref in read}
    return found


def forget(session: Session) -> None:
    """Drop the process's ids: one no longer named its account (a database restored
    from a backup under running processes hands old ids to new accounts)."""
    known = session.info.get(KNOWN)
    if known is not None:
        known.clear()


def _lookup(session: Session, owners: set[str]) -> dict[AccountRef, int]:
    """Every account of these owners, by reference."""
    account = LedgerAccount
    rows = session.execute(
        select(col(account.id), col(account.owner), col(account.kind), col(account.currency))
        .where(one_of(session, col(account.owner), owners))
    )  # fmt: skip
    return {AccountRef(o, AccountKind(k), c): i for i, o, k, c in rows}

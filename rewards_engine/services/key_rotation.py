"""Re-fingerprinting after a fingerprint-key rotation (``rewards-engine secrets
refingerprint``).

Matching checks every configured fingerprint key, so a rotation loses no duplicate; but
an old key can only leave ``FINGERPRINT_KEYS`` once no stored fingerprint was made with
it. This recomputes each stored fingerprint under the newest key, from the value itself
(decrypted with the vault, never logged), a batch a transaction, so that a large table
is never locked whole and a run stopped half-way is simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, select, tuple_
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.crypto import Vault
from rewards_engine.db import Database, table_of
from rewards_engine.domain.actors import Actor
from rewards_engine.models import Donor, GiftCardCode
from rewards_engine.services import audit

log = logging.getLogger(__name__)
BATCH = 1_000


@dataclass
class RefingerprintReport:
    codes_checked: int = 0
    codes_changed: int = 0
    # the same code stored twice under different keys (it slipped in before matching
    # spanned keys): left under its old fingerprint, for support to void one of them
    codes_duplicated: int = 0
    destinations_checked: int = 0
    destinations_changed: int = 0


def refingerprint(
    db: Database,
    clock: Clock,
    actor: Actor,
    vault: Vault,
    batch: int = BATCH,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> RefingerprintReport:
    """Every gift-card code's and payout destination's fingerprint under the newest key;
    the run is audited with its counts."""
    report = RefingerprintReport()
    last = 0
    while True:
        with db.transaction() as uow:
            session = uow.session
            rows = session.execute(
                select(
                    col(GiftCardCode.id),
                    col(GiftCardCode.item_id),
                    col(GiftCardCode.encrypted),
                    col(GiftCardCode.fingerprint),
                )
                .where(col(GiftCardCode.id) > last)
                .order_by(col(GiftCardCode.id))
                .limit(batch)
            ).all()
            if not rows:
                break
            last = rows[-1][0]
            report.codes_checked += len(rows)
            wanted: dict[int, tuple[str, str]] = {}
            for code_id, item_id, encrypted, fingerprint in rows:
                newest = vault.fingerprint(vault.decrypt(encrypted))
                if newest != fingerprint:
                    wanted[code_id] = (item_id, newest)
            taken: set[tuple[str, str]] = set()
            if wanted:
                pairs = tuple_(col(GiftCardCode.item_id), col(GiftCardCode.fingerprint))
                found = session.execute(
                    select(col(GiftCardCode.item_id), col(GiftCardCode.fingerprint)).where(
                        pairs.in_(list(wanted.values()))
                    )
                )
                taken = {(item_id, fingerprint) for item_id, fingerprint in found}
            changes = []
            for code_id, pair in wanted.items():
                if pair in taken:
                    report.codes_duplicated += 1
                    continue
                taken.add(pair)
                changes.append({"row": code_id, "fingerprint_now": pair[1]})
            _update_fingerprints(session, table_of(GiftCardCode), "fingerprint", changes)
            report.codes_changed += len(changes)
        if on_progress:
            on_progress("codes", report.codes_checked, None)
    last = 0
    while True:
        with db.transaction() as uow:
            session = uow.session
            donors = session.execute(
                select(col(Donor.id), col(Donor.payout_destination), col(Donor.payout_fingerprint))
                .where(col(Donor.id) > last, col(Donor.payout_destination).is_not(None))
                .order_by(col(Donor.id))
                .limit(batch)
            ).all()
            if not donors:
                break
            last = donors[-1][0]
            report.destinations_checked += len(donors)
            changes = []
            for donor_id, sealed, stored in donors:
                assert sealed is not None  # selected so
                current = vault.fingerprint(vault.decrypt(sealed))
                if current != stored:
                    changes.append({"row": donor_id, "fingerprint_now": current})
            _update_fingerprints(session, table_of(Donor), "payout_fingerprint", changes)
            report.destinations_changed += len(changes)
        if on_progress:
            on_progress("destinations", report.destinations_checked, None)
    with db.transaction() as uow:
        audit.record(
            uow.session,
            clock,
            actor,
            action="secrets.refingerprinted",
            target_type="installation",
            target_id="fingerprints",
            after={
                "codes_changed": report.codes_changed,
                "codes_duplicated": report.codes_duplicated,
                "destinations_changed": report.destinations_changed,
            },
        )
    log.info(
        "refingerprint: %d of %d codes and %d of %d payout destinations changed; "
        "%d duplicate codes left",
        report.codes_changed,
        report.codes_checked,
        report.destinations_changed,
        report.destinations_checked,
        report.codes_duplicated,
    )
    return report


def _update_fingerprints(
    session: Session, table: Table, column: str, changes: list[dict[str, object]]
) -> None:
    """One UPDATE statement for the batch, executed for each row (one round trip a batch
    with psycopg's pipelined executemany, not one a row)."""
    if changes:
        session.execute(
            table.update()
            .where(table.c.id == bindparam("row"))
            .values({column: bindparam("fingerprint_now")}),
            changes,
        )

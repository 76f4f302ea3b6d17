"""The donor's export: everything held about them, and nothing about anyone else or
about how fraud is detected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.ledger import donor_owner
from rewards_engine.models import (
    BoardFollow,
    Clip,
    ConsentRecord,
    DataRequest,
    Donor,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    MedalAward,
    MedalNotification,
    Notification,
    PayoutItem,
    Redemption,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services import cameras, ledger, push, redemptions, videos, wall
from rewards_engine.services.privacy.usage import usages_of


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dump(row: Any, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    return _without(row.model_dump(), *without)


def _without(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in names}


def export(runtime: Runtime, donor_id: int) -> Iterator[str]:
    """Everything held about the donor, as one JSON document, streamed (the leader's
    200,000 clips do not sit in memory at once). Nothing about other donors (no ids of
    others' clips) and nothing of fraud rules (only whether the account is under review)."""
    box = runtime.vault
    with runtime.db.read() as session:
        donor = session.get(Donor, donor_id)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        now = runtime.clock.now()
        profile = _dump(donor, without=("payout_destination", "payout_fingerprint", "on_hold"))
        profile["under_review"] = donor.on_hold
        profile["payout_destination"] = (
            box.decrypt(donor.payout_destination) if donor.payout_destination else None
        )
        head = {
            "exported_at": now.isoformat(),
            "profile": profile,
            "wall": {
                "visibility": donor.visibility,
                "display_name": donor.display_name,
                "alias": donor.alias,
                "all_time_rank": wall.all_time_rank(runtime, donor_id),
            },
            "balances": ledger.balances(session, donor_id),
            "consents": [
                _dump(r, without=("donor_id",))
                for r in session.scalars(
                    select(ConsentRecord)
                    .where(col(ConsentRecord.donor_id) == donor_id)
                    .order_by(col(ConsentRecord.id))
                )
            ],
            "cameras": cameras.export_cameras(session, donor_id),
            "push_devices": push.export_devices(session, donor_id),  # never the tokens
            "notifications": [
                _dump(n, without=("donor_id", "key"))
                for n in session.scalars(
                    select(Notification)
                    .where(col(Notification.donor_id) == donor_id)
                    .order_by(col(Notification.id))
                )
            ],
            "followed_boards": [
                _dump(f, without=("donor_id",))
                for f in session.scalars(
                    select(BoardFollow).where(col(BoardFollow.donor_id) == donor_id)
                )
            ],
        }
        yield "{" + json.dumps(head, default=_export_default)[1:-1]
        yield ', "clips": ['
        first = True
        batch: list[Clip] = []
        query = (
            select(Clip)
            .where(col(Clip.donor_id) == donor_id)
            .order_by(col(Clip.id))
            .execution_options(yield_per=2_000)
        )
        for clip in session.scalars(query):
            batch.append(clip)
            if len(batch) == 2_000:
                yield ("" if first else ",") + _clips_json(runtime, session, donor, batch, now)
                first, batch = False, []
        if batch:
            yield ("" if first else ",") + _clips_json(runtime, session, donor, batch, now)
        yield "]"
        yield ', "ledger": ' + json.dumps(_ledger(session, donor_id), default=_plain)
        yield ', "medals": ' + json.dumps(_medals(session, donor_id), default=_plain)
        views = [
            redemptions.redemption_view(session, r, box, reveal=True)
            for r in session.scalars(
                select(Redemption)
                .where(col(Redemption.donor_id) == donor_id)
                .order_by(col(Redemption.id))
            )
        ]
        yield ', "redemptions": ' + json.dumps(
            [
                {
                    **_without(vars(v.redemption), "donor_id"),
                    "item_name": v.item_name,
                    "code": v.code,
                    "history": [vars(e) for e in v.events],
                }
                for v in views
            ],
            default=_plain,
        )
        payouts = [
            _dump(p, without=("donor_id", "destination"))
            for p in session.scalars(
                select(PayoutItem)
                .where(col(PayoutItem.donor_id) == donor_id)
                .order_by(col(PayoutItem.id))
            )
        ]
        yield ', "payouts": ' + json.dumps(payouts, default=_plain)
        requests = [
            _dump(r, without=("donor_id",))
            for r in session.scalars(
                select(DataRequest).where(col(DataRequest.donor_id) == donor_id)
            )
        ]
        yield ', "data_requests": ' + json.dumps(requests, default=_plain) + "}"


def _export_default(value: Any) -> Any:
    if isinstance(value, ledger.Balances):
        return {
            "points": {"pending": value.points_pending, "available": value.points_available},
            "cash": [vars(c) for c in value.cash],
        }
    return _plain(value)


def _clips_json(
    runtime: Runtime, session: Session, donor: Donor, clips: list[Clip], now: datetime
) -> str:
    rows = []
    for clip, usage in zip(clips, usages_of(session, donor, clips, now), strict=True):
        row = _dump(clip, without=("duplicate_of_id", "donor_id", "storage_key"))
        # The donor's own video, for a week: the link opens it with their data key.
        row["video_url"] = (
            videos.video_link(runtime, donor.id, clip.id, now)
            if clip.intake == "verified" and clip.storage_key is not None
            else None
        )
        if row["perceptual_hash"] is not None:
            row["perceptual_hash"] = format(row["perceptual_hash"] & (1 << 64) - 1, "016x")
        row.update(
            usage=usage.usage.value,
            usage_reason=usage.usage_reason,
            delete_after=usage.delete_after,
        )
        rows.append(row)
    return json.dumps(rows, default=_plain)[1:-1]


def _ledger(session: Session, donor_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            col(LedgerEntry.id),
            col(LedgerEntry.amount),
            col(LedgerEntry.created_at),
            col(LedgerAccount.kind),
            col(LedgerAccount.currency),
            col(LedgerTransfer.kind),
            col(LedgerTransfer.reason),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransfer, col(LedgerTransfer.id) == col(LedgerEntry.transfer_id))
        .where(col(LedgerAccount.owner) == donor_owner(donor_id))
        .order_by(col(LedgerEntry.id))
    )
    return [
        {"entry_id": i, "amount": a, "at": at, "account": k, "currency": c,
         "transfer": tk, "reason": r}
        for i, a, at, k, c, tk, r in rows
    ]  # fmt: skip


def _medals(session: Session, donor_id: int) -> dict[str, Any]:
    awards = session.scalars(select(MedalAward).where(col(MedalAward.donor_id) == donor_id))
    notes = session.scalars(
        select(MedalNotification).where(col(MedalNotification.donor_id) == donor_id)
    )
    return {
        "awards": [_dump(a, without=("donor_id",)) for a in awards],
        "notifications": [_dump(n, without=("donor_id",)) for n in notes],
    }

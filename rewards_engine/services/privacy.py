"""The donor's side of the bargain: consent they can withdraw, what each clip is used
for, an export of everything held about them, erasure on request, retention, and a
public transparency report.

Erasure keeps what the law requires (the ledger and payout records) under the donor's
numeric id, which then no longer links to anyone: the account id, names, payout
destinations, addresses, clip metadata, medals and wall entries are gone.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, distinct, func, select, update
from sqlalchemy.orm import Session

from rewards_engine.clock import Clock
from rewards_engine.db import Database, UnitOfWork, insert, one_of, utc_bucket
from rewards_engine.domain import privacy as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.domain.privacy import Usage
from rewards_engine.models import (
    AuditRecord,
    Campaign,
    Clip,
    ConsentRecord,
    DataRequest,
    Donor,
    ErasedSubject,
    FraudEvidence,
    FraudFlag,
    IdempotencyKey,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    MedalAward,
    MedalNotification,
    PayoutItem,
    Redemption,
    RedemptionEvent,
    WallSnapshotEntry,
)
from rewards_engine.pagination import Page
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, consents, ledger, redemptions, wall
from rewards_engine.services.installation import erasure_salt
from rewards_engine.services.submissions import ClipFilter, list_donor_clips

log = logging.getLogger(__name__)
SYSTEM = Actor.system("privacy")
ERASED = "erased"


def subject_hash(session: Session, account_id: str) -> str:
    return rules.salted(erasure_salt(session), f"subject:{account_id}")


# --- what each clip is used for ------------------------------------------------------------


@dataclass(frozen=True)
class ClipView:
    clip: Clip
    usage: Usage
    usage_reason: str | None
    delete_after: datetime | None


def _views(session: Session, donor: Donor, clips: list[Clip], now: datetime) -> list[ClipView]:
    current = consents.current_version(session, now)
    consent_current = current is not None and donor.consent_version == current.version
    retention = dict(session.execute(select(Campaign.id, Campaign.retention_days)).all())
    views = []
    for clip in clips:
        usage, reason = rules.usage_of(
            status=clip.status,
            metadata_deleted=clip.metadata_deleted_at is not None,
            consent_withdrawn=donor.consent_withdrawn_at is not None,
            consent_current=consent_current,
        )
        after = rules.delete_after(clip.created_at, retention.get(clip.campaign_id))
        views.append(ClipView(clip, usage, reason, after))
    return views


def list_clips(
    db: Database,
    clock: Clock,
    donor_id: int,
    filters: ClipFilter,
    *,
    limit: int,
    cursor: str | None,
) -> Page[ClipView]:
    page = list_donor_clips(db, donor_id, filters, limit=limit, cursor=cursor)
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        assert donor is not None
        return Page(_views(session, donor, page.items, clock.now()), page.next_cursor)


def clip_view(db: Database, clock: Clock, clip: Clip) -> ClipView:
    with db.read() as session:
        donor = session.get(Donor, clip.donor_id)
        assert donor is not None
        return _views(session, donor, [clip], clock.now())[0]


def training_clips(db: Database, clock: Clock, campaign_id: str | None = None) -> Iterator[dict]:
    """Clips usable for training: accepted, metadata kept, their donor active, not
    erased and holding the current consent. Donors are not named."""
    now = clock.now()
    with db.read() as session:
        current = consents.current_version(session, now)
        if current is None:
            return
        query = (
            select(Clip)
            .join(Donor, Donor.id == Clip.donor_id)
            .where(
                Clip.status == "accepted",
                Clip.metadata_deleted_at.is_(None),
                Donor.status == "active",
                Donor.consent_version == current.version,
            )
            .order_by(Clip.id)
            .execution_options(yield_per=5_000)
        )
        if campaign_id is not None:
            query = query.where(Clip.campaign_id == campaign_id)
        for clip in session.scalars(query):
            yield {
                "clip_id": clip.id,
                "campaign_id": clip.campaign_id,
                "video_sha256": clip.video_sha256,
                "incident_type": clip.incident_type,
                "staged": clip.staged,
                "recorded_at": clip.recorded_at.isoformat(),
                "duration_s": clip.duration_s,
            }


# --- export ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dump(row: Any, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in row.model_dump().items() if k not in without}


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
                    .where(ConsentRecord.donor_id == donor_id)
                    .order_by(ConsentRecord.id)
                )
            ],
        }
        yield "{" + json.dumps(head, default=_export_default)[1:-1]
        yield ', "clips": ['
        first = True
        batch: list[Clip] = []
        query = (
            select(Clip)
            .where(Clip.donor_id == donor_id)
            .order_by(Clip.id)
            .execution_options(yield_per=2_000)
        )
        for clip in session.scalars(query):
            batch.append(clip)
            if len(batch) == 2_000:
                yield ("" if first else ",") + _clips_json(session, donor, batch, now)
                first, batch = False, []
        if batch:
            yield ("" if first else ",") + _clips_json(session, donor, batch, now)
        yield "]"
        yield ', "ledger": ' + json.dumps(_ledger(session, donor_id), default=_plain)
        yield ', "medals": ' + json.dumps(_medals(session, donor_id), default=_plain)
        views = [
            redemptions._view(session, r, box, reveal=True)
            for r in session.scalars(
                select(Redemption).where(Redemption.donor_id == donor_id).order_by(Redemption.id)
            )
        ]
        yield ', "redemptions": ' + json.dumps(
            [
                {
                    **_dump(v.redemption, without=("donor_id", "gift_card_code_id")),
                    "item_name": v.item_name,
                    "code": v.code,
                    "history": [_dump(e, without=("redemption_id",)) for e in v.events],
                }
                for v in views
            ],
            default=_plain,
        )
        payouts = [
            _dump(p, without=("donor_id", "destination"))
            for p in session.scalars(
                select(PayoutItem).where(PayoutItem.donor_id == donor_id).order_by(PayoutItem.id)
            )
        ]
        yield ', "payouts": ' + json.dumps(payouts, default=_plain)
        requests = [
            _dump(r, without=("donor_id",))
            for r in session.scalars(select(DataRequest).where(DataRequest.donor_id == donor_id))
        ]
        yield ', "data_requests": ' + json.dumps(requests, default=_plain) + "}"


def _export_default(value: Any) -> Any:
    if isinstance(value, ledger.Balances):
        return {
            "points": {"pending": value.points_pending, "available": value.points_available},
            "cash": [vars(c) for c in value.cash],
        }
    return _plain(value)


def _clips_json(session: Session, donor: Donor, clips: list[Clip], now: datetime) -> str:
    rows = []
    for view in _views(session, donor, clips, now):
        row = _dump(view.clip, without=("duplicate_of_id", "donor_id"))
        if row["perceptual_hash"] is not None:
            row["perceptual_hash"] = format(row["perceptual_hash"] & (1 << 64) - 1, "016x")
        row.update(
            usage=view.usage.value, usage_reason=view.usage_reason, delete_after=view.delete_after
        )
        rows.append(row)
    return json.dumps(rows, default=_plain)[1:-1]


def _ledger(session: Session, donor_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.amount,
            LedgerEntry.created_at,
            LedgerAccount.kind,
            LedgerAccount.currency,
            LedgerTransfer.kind,
            LedgerTransfer.reason,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .where(LedgerAccount.owner == ledger.donor_owner(donor_id))
        .order_by(LedgerEntry.id)
    )
    return [
        {"entry_id": i, "amount": a, "at": at, "account": k, "currency": c,
         "transfer": tk, "reason": r}
        for i, a, at, k, c, tk, r in rows
    ]  # fmt: skip


def _medals(session: Session, donor_id: int) -> dict[str, Any]:
    awards = session.scalars(select(MedalAward).where(MedalAward.donor_id == donor_id))
    notes = session.scalars(select(MedalNotification).where(MedalNotification.donor_id == donor_id))
    return {
        "awards": [_dump(a, without=("donor_id",)) for a in awards],
        "notifications": [_dump(n, without=("donor_id",)) for n in notes],
    }


# --- erasure ---------------------------------------------------------------------------------


def request_erasure(runtime: Runtime, donor_id: int, actor: Actor) -> DataRequest:
    """Ask for erasure; the ``erase-donors`` job carries it out at its next run. Asking
    again returns the request already waiting."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        session.get(Donor, donor_id, with_for_update=True)
        waiting = session.scalars(
            select(DataRequest).where(
                DataRequest.donor_id == donor_id,
                DataRequest.kind == "erasure",
                DataRequest.status == "received",
            )
        ).first()
        if waiting is not None:
            return waiting
        request = DataRequest(
            id=str(uuid.uuid4()), donor_id=donor_id, kind="erasure", received_at=now
        )
        session.add(request)
        audit.record(
            session,
            runtime.clock,
            actor,
            action="donor.erasure_requested",
            target_type="data_request",
            target_id=request.id,
        )
    return request


def get_request(db: Database, request_id: str, donor_id: int | None) -> DataRequest:
    """A data request: the donor's own, or, without a donor (the account is gone after
    an erasure), an erasure request by its random id alone."""
    with db.read() as session:
        request = session.get(DataRequest, request_id)
    if request is None or (donor_id is not None and request.donor_id != donor_id):
        raise NotFound("no such data request", code="data_request_not_found")
    if donor_id is None and request.kind != "erasure":
        raise NotFound("no such data request", code="data_request_not_found")
    return request


def run_erasures(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read() as session:
        waiting = list(
            session.scalars(
                select(DataRequest.id)
                .where(DataRequest.kind == "erasure", DataRequest.status == "received")
                .order_by(DataRequest.received_at)
            )
        )
    totals: Counter[str] = Counter()
    for request_id in waiting:
        totals.update(erase(runtime, request_id))
        totals["donors"] += 1
    log.info("erasures carried out", extra={"fields": dict(totals)})
    return dict(totals)


def erase(runtime: Runtime, request_id: str) -> dict[str, int]:
    """Carry out one erasure, in one transaction (all or nothing)."""
    now = runtime.clock.now()
    keep_hashes = runtime.settings.erasure_keeps_hashes
    with runtime.db.transaction() as uow:
        session = uow.session
        request = session.get(DataRequest, request_id, with_for_update=True)
        if request is None or request.status == "completed":
            return {}
        donor = session.get(Donor, request.donor_id, with_for_update=True)
        assert donor is not None
        counts: dict[str, int] = {}
        counts["clips"] = scrub_clips(
            session, now, [Clip.donor_id == donor.id], keep_hashes=keep_hashes
        )
        counts.update(_erase_related(uow, now, donor))
        if donor.account_id is not None:
            session.execute(
                insert(session, ErasedSubject.__table__)
                .values(subject_hash=subject_hash(session, donor.account_id), erased_at=now)
                .on_conflict_do_nothing()
            )
        for name in ("account_id", "display_name", "alias", "timezone", "consent_version"):
            setattr(donor, name, None)
        for name in ("payout_kind", "payout_destination", "payout_masked", "payout_fingerprint"):
            setattr(donor, name, None)
        donor.status, donor.visibility, donor.on_hold = ERASED, "hidden", False
        donor.erased_at = donor.updated_at = now
        request.status, request.completed_at, request.outcome = "completed", now, counts
        uow.publish(DonorChanged(donor.id))  # type: ignore[arg-type]
        session.flush()
        wall.record_donor_changed(uow, now, donor.id)  # type: ignore[arg-type]
    log.info("donor erased", extra={"fields": {"request_id": request_id, **counts}})
    return counts


def _erase_related(uow: UnitOfWork, now: datetime, donor: Donor) -> dict[str, int]:
    session, donor_id = uow.session, donor.id
    counts: dict[str, int] = {}
    counts["redemptions"] = session.execute(
        update(Redemption)
        .where(Redemption.donor_id == donor_id)
        .values(shipping_address=None, tracking_number=None, note=None)
    ).rowcount
    session.execute(
        update(RedemptionEvent)
        .where(
            RedemptionEvent.redemption_id.in_(
                select(Redemption.id).where(Redemption.donor_id == donor_id)
            )
        )
        .values(note=None)
    )
    counts["payout_items"] = session.execute(
        update(PayoutItem)
        .where(PayoutItem.donor_id == donor_id)
        .values(destination="", destination_masked=ERASED)
    ).rowcount
    counts["medals"] = session.execute(
        delete(MedalAward).where(MedalAward.donor_id == donor_id)
    ).rowcount
    session.execute(delete(MedalNotification).where(MedalNotification.donor_id == donor_id))
    counts["archived_wall_entries"] = session.execute(
        delete(WallSnapshotEntry).where(WallSnapshotEntry.donor_id == donor_id)
    ).rowcount
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == f"donor:{donor_id}"))
    session.execute(delete(FraudEvidence).where(FraudEvidence.donor_id == donor_id))
    session.execute(update(FraudFlag).where(FraudFlag.donor_id == donor_id).values(summary=ERASED))
    # The audit log keeps that something was done, not to whom: values and free text
    # go from the records about the donor and their clips, redemptions and payouts.
    counts["audit_records"] = 0
    owned = {
        "donor": [donor_id],
        "clip": select(Clip.id).where(Clip.donor_id == donor_id),
        "redemption": select(Redemption.id).where(Redemption.donor_id == donor_id),
        "payout_item": select(PayoutItem.id).where(PayoutItem.donor_id == donor_id),
    }
    for target_type, ids in owned.items():
        if not isinstance(ids, list):
            ids = list(session.scalars(ids))
        keys = [str(i) for i in ids]
        for start in range(0, len(keys), 5_000):
            counts["audit_records"] += session.execute(
                update(AuditRecord)
                .where(
                    AuditRecord.target_type == target_type,
                    one_of(session, AuditRecord.target_id, keys[start : start + 5_000]),
                )
                .values(before=None, after=None, reason=ERASED)
            ).rowcount
    session.execute(
        update(AuditRecord)
        .where(AuditRecord.actor_id == f"donor:{donor_id}")
        .values(before=None, after=None)
    )
    return counts


def scrub_clips(
    session: Session, now: datetime, where: list[Any], *, keep_hashes: bool = True
) -> int:
    """Delete what identifies clips (content hashes, camera, event), keeping what they
    counted and earned. With ``keep_hashes`` the content hash is replaced by a salted
    hash of it, which the duplicate check still recognises: the same video donated
    again is not paid twice."""
    rows = session.execute(
        select(Clip.id, Clip.video_sha256).where(*where, Clip.metadata_deleted_at.is_(None))
    ).all()
    if not rows:
        return 0
    pepper = erasure_salt(session)
    values = [
        {
            "clip": clip_id,
            "digest": rules.salted(pepper, sha) if keep_hashes else secrets.token_hex(32),
        }
        for clip_id, sha in rows
    ]
    table = Clip.__table__
    session.execute(
        table.update()
        .where(table.c.id == bindparam("clip"))
        .values(
            video_sha256=bindparam("digest"),
            perceptual_hash=None,
            camera_id="",
            event_id="",
            metadata_deleted_at=now,
        ),
        values,
    )
    return len(rows)


# --- retention -----------------------------------------------------------------------------


def apply_retention(runtime: Runtime) -> dict[str, int]:
    """Delete the metadata of clips past their campaign's retention period, a campaign
    and a chunk at a time; record the counts (never the content)."""
    now = runtime.clock.now()
    deleted: dict[str, int] = defaultdict(int)
    with runtime.db.read() as session:
        campaigns = session.execute(
            select(Campaign.id, Campaign.retention_days).where(Campaign.retention_days.is_not(None))
        ).all()
    for campaign_id, days in campaigns:
        cutoff = now - timedelta(days=days)
        while True:
            with runtime.db.transaction() as uow:
                ids = list(
                    uow.session.scalars(
                        select(Clip.id)
                        .where(
                            Clip.campaign_id == campaign_id,
                            Clip.created_at < cutoff,
                            Clip.metadata_deleted_at.is_(None),
                        )
                        .limit(5_000)
                    )
                )
                if not ids:
                    break
                count = scrub_clips(uow.session, now, [one_of(uow.session, Clip.id, ids)])
                deleted[campaign_id] += count
        if deleted[campaign_id]:
            with runtime.db.transaction() as uow:
                audit.record(
                    uow.session,
                    runtime.clock,
                    Actor.system("retention"),
                    action="retention.deleted",
                    target_type="campaign",
                    target_id=campaign_id,
                    after={"clips": deleted[campaign_id], "retention_days": days},
                )
    total = sum(deleted.values())
    log.info("retention applied", extra={"fields": {"clips": total, "campaigns": len(deleted)}})
    return {"clips": total, "campaigns": sum(1 for n in deleted.values() if n)}


# --- transparency ----------------------------------------------------------------------------

TRANSPARENCY_TTL = timedelta(minutes=5)


def transparency(runtime: Runtime) -> dict[str, Any]:
    """The public report, per quarter, computed at most every five minutes per process."""
    cache = runtime.extension("transparency_cache", dict)
    now = runtime.clock.now()
    cached = cache.get("report")
    if cached is not None and now - cached[0] < TRANSPARENCY_TTL:
        return cached[1]
    report = _transparency(runtime.db, now)
    cache["report"] = (now, report)
    return report


def _transparency(db: Database, now: datetime) -> dict[str, Any]:
    quarters: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "clips": Counter(),
            "donors": 0,
            "paid_out": Counter(),
            "erasure_requests": {"received": 0, "completed": 0, "median_hours_to_complete": None},
            "fraud_flags": Counter(),
        }
    )
    with db.read() as session:
        received = utc_bucket(session, Clip.created_at, "quarter")
        for quarter, status, clips in session.execute(
            select(received, Clip.status, func.count()).group_by(received, Clip.status)
        ):
            quarters[quarter]["clips"]["received"] += clips
            quarters[quarter]["clips"][status] += clips
        for quarter, donors in session.execute(
            select(received, func.count(distinct(Clip.donor_id))).group_by(received)
        ):
            quarters[quarter]["donors"] = donors
        deleted = utc_bucket(session, Clip.metadata_deleted_at, "quarter")
        for quarter, clips in session.execute(
            select(deleted, func.count())
            .where(Clip.metadata_deleted_at.is_not(None))
            .group_by(deleted)
        ):
            quarters[quarter]["clips"]["metadata_deleted"] += clips
        settled = utc_bucket(session, PayoutItem.settled_at, "quarter")
        for quarter, currency, cents in session.execute(
            select(settled, PayoutItem.currency, func.sum(PayoutItem.amount_cents))
            .where(PayoutItem.status == "succeeded")
            .group_by(settled, PayoutItem.currency)
        ):
            quarters[quarter]["paid_out"][currency] += int(cents)
        durations: dict[str, list[timedelta]] = defaultdict(list)
        for asked, done in session.execute(
            select(DataRequest.received_at, DataRequest.completed_at).where(
                DataRequest.kind == "erasure"
            )
        ):
            quarter = rules.quarter_of(asked)
            quarters[quarter]["erasure_requests"]["received"] += 1
            if done is not None:
                quarters[quarter]["erasure_requests"]["completed"] += 1
                durations[quarter].append(done - asked)
        for quarter, spans in durations.items():
            quarters[quarter]["erasure_requests"]["median_hours_to_complete"] = rules.median_hours(
                spans
            )
        opened = utc_bucket(session, FraudFlag.created_at, "quarter")
        for quarter, status, flags in session.execute(
            select(opened, FraudFlag.status, func.count()).group_by(opened, FraudFlag.status)
        ):
            quarters[quarter]["fraud_flags"]["opened"] += flags
            quarters[quarter]["fraud_flags"][status] += flags
    return {
        "generated_at": now.isoformat(),
        "quarters": [
            {
                "quarter": name,
                "clips": {
                    "received": q["clips"]["received"],
                    "accepted": q["clips"]["accepted"],
                    "pending_review": q["clips"]["pending_review"],
                    "rejected": q["clips"]["rejected"],
                    "duplicates": q["clips"]["duplicate"],
                    "reversed": q["clips"]["reversed"],
                    "deleted": q["clips"]["metadata_deleted"],
                },
                "donors": q["donors"],
                "paid_out": [
                    {"currency": c, "amount_cents": n} for c, n in sorted(q["paid_out"].items())
                ],
                "erasure_requests": q["erasure_requests"],
                "fraud_flags": {
                    "opened": q["fraud_flags"]["opened"],
                    "confirmed": q["fraud_flags"]["confirmed"],
                    "dismissed": q["fraud_flags"]["dismissed"],
                },
            }
            for name, q in sorted(quarters.items())
        ],
    }

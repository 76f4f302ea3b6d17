"""The public transparency report, per quarter: clips received and how they ended,
donors, money paid out, deletions, erasure requests and fraud flags. Anyone may read
it, so it holds counts only and is computed at most every five minutes per process.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlmodel import col

from rewards_engine.db import Database, utc_bucket
from rewards_engine.domain import privacy as rules
from rewards_engine.models import Clip, DataRequest, FraudFlag, PayoutItem
from rewards_engine.runtime import Runtime

TRANSPARENCY_TTL = timedelta(minutes=5)


def transparency(runtime: Runtime) -> dict[str, Any]:
    """The public report, per quarter, computed at most every five minutes per process."""
    cache: dict[str, tuple[datetime, dict[str, Any]]] = runtime.extension(
        "transparency_cache", dict
    )
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
            select(received, col(Clip.status), func.count()).group_by(received, col(Clip.status))
        ):
            quarters[quarter]["clips"]["received"] += clips
            quarters[quarter]["clips"][status] += clips
        for quarter, donors in session.execute(
            select(received, func.count(distinct(col(Clip.donor_id)))).group_by(received)
        ):
            quarters[quarter]["donors"] = donors
        deleted = utc_bucket(session, Clip.metadata_deleted_at, "quarter")
        for quarter, clips in session.execute(
            select(deleted, func.count())
            .where(col(Clip.metadata_deleted_at).is_not(None))
            .group_by(deleted)
        ):
            quarters[quarter]["clips"]["metadata_deleted"] += clips
        verified = col(Clip.intake) == "verified"
        for quarter, clips in session.execute(
            select(received, func.count()).where(verified).group_by(received)
        ):
            quarters[quarter]["clips"]["videos_stored"] += clips
        gone = utc_bucket(session, Clip.video_deleted_at, "quarter")
        for quarter, clips in session.execute(
            select(gone, func.count())
            .where(verified, col(Clip.video_deleted_at).is_not(None))
            .group_by(gone)
        ):
            quarters[quarter]["clips"]["videos_deleted"] += clips
        settled = utc_bucket(session, PayoutItem.settled_at, "quarter")
        for quarter, currency, cents in session.execute(
            select(settled, col(PayoutItem.currency), func.sum(col(PayoutItem.amount_cents)))
            .where(col(PayoutItem.status) == "succeeded")
            .group_by(settled, PayoutItem.currency)
        ):
            quarters[quarter]["paid_out"][currency] += int(cents)
        durations: dict[str, list[timedelta]] = defaultdict(list)
        for asked, done in session.execute(
            select(col(DataRequest.received_at), col(DataRequest.completed_at)).where(
                col(DataRequest.kind) == "erasure"
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
            select(opened, col(FraudFlag.status), func.count()).group_by(
                opened, col(FraudFlag.status)
            )
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
                    "videos_stored": q["clips"]["videos_stored"],
                    "videos_deleted": q["clips"]["videos_deleted"],
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

"""Reading fraud flags for review: the queue and one flag with its evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlmodel import col

from rewards_engine.db import Database, row_view
from rewards_engine.domain.errors import NotFound
from rewards_engine.models import FraudEvidence, FraudFlag
from rewards_engine.pagination import Page, fetch_page


@dataclass(frozen=True)
class FlagView:
    """A fraud flag as the review queue shows it."""

    id: int
    donor_id: int
    rule: str
    rule_version: int
    severity: str
    score: float
    status: str
    summary: str
    evidence_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True)
class EvidenceView:
    """One piece of a flag's evidence: what was found, how strong, which clips."""

    id: int
    key: str
    score: float
    magnitude: float
    details: dict[str, Any]
    clip_ids: list[int]
    created_at: datetime


def list_flags(
    db: Database,
    *,
    status: str | None,
    rule: str | None,
    donor_id: int | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Page[FlagView]:
    query = select(FraudFlag)
    if status:
        query = query.where(col(FraudFlag.status) == status)
    if rule:
        query = query.where(col(FraudFlag.rule) == rule)
    if donor_id is not None:
        query = query.where(col(FraudFlag.donor_id) == donor_id)
    columns: tuple[Mapped[Any], ...] = (col(FraudFlag.id),)
    types: tuple[type, ...] = (int,)
    if sort == "score":
        columns, types = (col(FraudFlag.score), col(FraudFlag.id)), (float, int)
    with db.read() as session:
        return fetch_page(
            session,
            query,
            kind=f"fraud-flags:{sort}",
            columns=columns,
            types=types,
            limit=limit,
            cursor=cursor,
        ).map(lambda row: row_view(FlagView, row))


@dataclass(frozen=True)
class FlagDetail:
    flag: FlagView
    evidence: list[EvidenceView]


def flag_detail(db: Database, flag_id: int, evidence_limit: int = 200) -> FlagDetail:
    with db.read() as session:
        flag = session.get(FraudFlag, flag_id)
        if flag is None:
            raise NotFound(f"no fraud flag {flag_id}", code="flag_not_found")
        evidence = session.scalars(
            select(FraudEvidence)
            .where(col(FraudEvidence.flag_id) == flag_id)
            .order_by(col(FraudEvidence.score).desc(), col(FraudEvidence.id))
            .limit(evidence_limit)
        )
        return FlagDetail(
            row_view(FlagView, flag), [row_view(EvidenceView, row) for row in evidence]
        )

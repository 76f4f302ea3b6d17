"""Fraud scans: every enabled rule (``fraud_signals``) over the clips since the last
scan, its findings recorded as evidence once each, joined to the donor's open flag for
the rule or opening one; a high-severity flag puts the donor on hold.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import UnitOfWork, insert, nightly_work_mem, one_of, table_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.fraud import (
    COUNTING_RULES,
    Finding,
    FlagStatus,
    RuleConfig,
    Severity,
    tier,
)
from rewards_engine.models import Clip, Donor, FraudEvidence, FraudFlag, FraudScanState
from rewards_engine.runtime import Runtime
from rewards_engine.services import holds
from rewards_engine.services.fraud.rules import rule_configs
from rewards_engine.services.fraud_signals import SIGNALS, HashIndex, Scope

log = logging.getLogger(__name__)
SYSTEM = Actor.system("fraud")
STATE = "clips"
# Clips younger than this wait for the next incremental scan: a transaction that took
# a lower id may still be committing (ids are handed out before commit, not in it).
SETTLE = timedelta(seconds=30)


def hash_index(runtime: Runtime) -> HashIndex:
    return runtime.extension("fraud_hash_index", HashIndex)


@dataclass
class ScanReport:
    mode: str
    clips_in_scope: int = 0
    findings: int = 0
    new_evidence: int = 0
    evidence_updated: int = 0
    covered_by_dismissals: int = 0
    flags_opened: int = 0
    flags_updated: int = 0
    donors_held: int = 0
    seconds_by_rule: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def scan(runtime: Runtime, *, full: bool) -> ScanReport:
    """Run every enabled rule over all clips (``full``) or the clips since the last
    scan. Idempotent: a second run over the same clips opens nothing."""
    now = runtime.clock.now()
    report = ScanReport("full" if full else "incremental")
    configs = {code: rule for code, rule in rule_configs(runtime.db).items() if rule.enabled}
    findings: list[Finding] = []
    with runtime.db.read() as session:
        if full:  # every rule aggregates every clip: in memory, not spilled to disk
            nightly_work_mem(session)
        state = session.get(FraudScanState, STATE)
        watermark = state.watermark if state else 0
        up_to = session.scalar(
            select(func.max(col(Clip.id))).where(col(Clip.created_at) <= now - SETTLE)
        )
        up_to = max(up_to or 0, watermark)
        scope = Scope(full, 0 if full else watermark, up_to, now)
        report.clips_in_scope = up_to - scope.after_id
        if full or up_to > watermark:
            index = hash_index(runtime)
            # After a restart the index is empty: it is read while the rules before the
            # near-duplicate rule run (their SQL and its reading overlap).
            loading = None
            if not full and "near_duplicate" in configs:
                loading = index.load_behind(runtime.db.engine, scope.after_id)
            try:
                for code, rule in configs.items():
                    started = time.perf_counter()
                    findings += SIGNALS[code](session, rule, scope, index)
                    report.seconds_by_rule[code] = round(time.perf_counter() - started, 3)
            finally:
                if loading is not None:
                    loading.join()
    report.findings = len(findings)
    record_findings(runtime, configs, findings, report)
    with runtime.db.transaction() as uow:
        row = uow.session.get(FraudScanState, STATE, with_for_update=True)
        if row is None:
            row = FraudScanState(name=STATE)
            uow.session.add(row)
        row.watermark = max(row.watermark or 0, up_to)
        if full:
            row.last_full_at = now
        else:
            row.last_incremental_at = now
    log.info("fraud scan finished", extra={"fields": report.as_dict()})
    return report


def record_findings(
    runtime: Runtime,
    configs: dict[str, RuleConfig],
    findings: list[Finding],
    report: ScanReport,
) -> None:
    """Record new evidence, open or update flags, hold donors; one transaction.

    Evidence already recorded on an open flag is brought up to date (its figures and
    the flag's summary follow the counts as they grow) without opening anything. Evidence
    recorded on a closed flag (dismissed or confirmed) is not news again unless it grew
    past what the decision covered (:func:`_outgrew`): then it is recorded again under a
    key that names the evidence it outgrew, and opens review like new evidence.
    """
    if not findings:
        return
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        donor_ids = sorted({f.donor_id for f in findings})
        session.execute(  # every writer locks donors first, in id order
            select(col(Donor.id)).where(one_of(session, col(Donor.id), donor_ids))
            .order_by(col(Donor.id))
            .with_for_update()
        )  # fmt: skip
        flags = list(
            session.scalars(
                select(FraudFlag).where(
                    one_of(session, col(FraudFlag.donor_id), donor_ids),
                    col(FraudFlag.status).in_([FlagStatus.OPEN.value, FlagStatus.DISMISSED.value]),
                )
            )
        )
        open_flags = {(f.rule, f.donor_id): f for f in flags if f.status == FlagStatus.OPEN}
        dismissed = _dismissal_cover(flags, configs)
        unique: dict[tuple[str, int, str], Finding] = {}
        for finding in findings:
            unique.setdefault((finding.rule, finding.donor_id, finding.key), finding)
        grouped, current = _sort_by_what_is_known(session, configs, dismissed, unique)
        evidence: list[tuple[FraudFlag, Finding]] = []
        to_hold: dict[int, FraudFlag] = {}
        for row, finding in current:
            flag = open_flags.get((finding.rule, finding.donor_id))
            if flag is None or flag.id != row.flag_id:
                continue
            if _refresh(session, row, finding):
                _refresh_flag(flag, configs[finding.rule], finding, now)
                report.evidence_updated += 1
                if flag.severity == Severity.HIGH:
                    to_hold.setdefault(finding.donor_id, flag)
        for (rule, donor_id), fresh in grouped.items():
            cover = dismissed.get((rule, donor_id))
            if cover is not None:
                flag_id, limit = cover
                covered = [f for f in fresh if f.magnitude <= limit]
                report.covered_by_dismissals += len(covered)
                evidence += [(session.get(FraudFlag, flag_id), f) for f in covered]  # type: ignore[misc]  # the flag exists: its id was just read
                fresh = [f for f in fresh if f.magnitude > limit]
            if not fresh:
                continue
            config = configs[rule]
            flag = open_flags.get((rule, donor_id))
            if flag is None:
                flag = FraudFlag(
                    donor_id=donor_id,
                    rule=rule,
                    rule_version=config.version,
                    severity=config.severity.value,
                    score=0.0,
                    summary="",
                    created_at=now,
                    updated_at=now,
                )
                session.add(flag)
                open_flags[(rule, donor_id)] = flag
                report.flags_opened += 1
            else:
                report.flags_updated += 1
            _add_to_flag(flag, config, fresh, now)
            evidence += [(flag, f) for f in fresh]
            report.new_evidence += len(fresh)
            if flag.severity == Severity.HIGH:
                to_hold.setdefault(donor_id, flag)
        session.flush()
        if evidence:
            session.execute(
                insert(session, table_of(FraudEvidence)).on_conflict_do_nothing(),
                [
                    {
                        "flag_id": flag.id,
                        "rule": f.rule,
                        "donor_id": f.donor_id,
                        "key": f.key,
                        "score": f.score,
                        "magnitude": f.magnitude,
                        "details": f.details,
                        "clip_ids": list(f.clip_ids),
                        "created_at": now,
                    }
                    for flag, f in evidence
                ],
            )
        report.donors_held += _hold(uow, runtime.clock, to_hold)


@dataclass(frozen=True)
class _Known:
    """Evidence already recorded, with the state of the flag it belongs to."""

    id: int
    flag_id: int
    key: str
    score: float
    magnitude: float
    details: dict[str, Any]
    status: str


def _sort_by_what_is_known(
    session: Session,
    configs: dict[str, RuleConfig],
    dismissed: dict[tuple[str, int], tuple[int, float]],
    findings: dict[tuple[str, int, str], Finding],
) -> tuple[dict[tuple[str, int], list[Finding]], list[tuple[_Known, Finding]]]:
    """New evidence per (rule, donor), and evidence recorded on an open flag (to bring
    up to date). Evidence that outgrew its closed flag is followed down the chain of
    keys it was recorded under since, until new evidence or an open flag is found."""
    grouped: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    current: list[tuple[_Known, Finding]] = []
    pending = list(findings.values())
    while pending:
        known = _known_evidence(session, pending)
        following: list[Finding] = []
        for finding in pending:
            row = known.get((finding.rule, finding.donor_id, finding.key))
            if row is None:
                grouped[(finding.rule, finding.donor_id)].append(finding)
            elif row.status == FlagStatus.OPEN:
                current.append((row, finding))
            elif _outgrew(configs[finding.rule], dismissed, row, finding):
                following.append(replace(finding, key=grown_key(row.key, row.id)))
        pending = following
    return grouped, current


def grown_key(key: str, evidence_id: int) -> str:
    """The key of evidence that outgrew the recorded evidence ``evidence_id``."""
    suffix = f"|>{evidence_id}"
    return key[: 200 - len(suffix)] + suffix


def _outgrew(
    config: RuleConfig,
    dismissed: dict[tuple[str, int], tuple[int, float]],
    row: _Known,
    finding: Finding,
) -> bool:
    """Whether evidence recorded on a closed flag has grown into news. For a rule with
    ``dismissal_covers``: past what the donor's dismissals cover, or past that multiple
    of what was confirmed; for the others: past the doubling (:func:`tier`) it was
    decided at. Growth within that is the same evidence, already decided."""
    covers = config.dismissal_covers
    if covers:
        cover = dismissed.get((finding.rule, finding.donor_id))
        if row.status == FlagStatus.DISMISSED and cover is not None:
            return finding.magnitude > cover[1]
        return finding.magnitude > row.magnitude * covers
    return tier(finding.magnitude) > tier(row.magnitude)


def _known_evidence(
    session: Session, findings: list[Finding]
) -> dict[tuple[str, int, str], _Known]:
    keys = sorted({f.key for f in findings})
    donors = sorted({f.donor_id for f in findings})
    known: dict[tuple[str, int, str], _Known] = {}
    for start in range(0, len(keys), 5_000):
        rows = session.execute(
            select(
                col(FraudEvidence.rule),
                col(FraudEvidence.donor_id),
                col(FraudEvidence.key),
                col(FraudEvidence.id),
                col(FraudEvidence.flag_id),
                col(FraudEvidence.score),
                col(FraudEvidence.magnitude),
                col(FraudEvidence.details),
                col(FraudFlag.status),
            )
            .join(FraudFlag, col(FraudFlag.id) == col(FraudEvidence.flag_id))
            .where(
                one_of(session, col(FraudEvidence.donor_id), donors),
                one_of(session, col(FraudEvidence.key), keys[start : start + 5_000]),
            )
        )
        for rule, donor_id, key, *rest in rows:
            known[(rule, donor_id, key)] = _Known(rest[0], rest[1], key, *rest[2:])
    return known


def _refresh(session: Session, row: _Known, finding: Finding) -> bool:
    """Bring evidence on an open flag up to date (its counts grew, the ring it names
    changed); True if anything changed. A closed flag's evidence stays as decided."""
    if (finding.score, finding.magnitude, finding.details) == (
        row.score,
        row.magnitude,
        row.details,
    ):
        return False
    session.execute(
        update(FraudEvidence)
        .where(col(FraudEvidence.id) == row.id)
        .values(
            score=finding.score,
            magnitude=finding.magnitude,
            details=finding.details,
            clip_ids=list(finding.clip_ids),
        )
    )
    return True


def _dismissal_cover(
    flags: list[FraudFlag], configs: dict[str, RuleConfig]
) -> dict[tuple[str, int], tuple[int, float]]:
    """Per (rule, donor): the dismissed flag that covers new evidence, and up to what
    magnitude (for rules that cover more than the same evidence)."""
    cover: dict[tuple[str, int], tuple[int, float]] = {}
    for flag in flags:
        config = configs.get(flag.rule)
        if flag.status != FlagStatus.DISMISSED or config is None or not config.dismissal_covers:
            continue
        limit = flag.magnitude * config.dismissal_covers
        current = cover.get((flag.rule, flag.donor_id))
        if current is None or limit > current[1]:
            cover[(flag.rule, flag.donor_id)] = (flag.id, limit)
    return cover


def _add_to_flag(flag: FraudFlag, config: RuleConfig, fresh: list[Finding], now: datetime) -> None:
    flag.evidence_count += len(fresh)
    flag.magnitude = max(flag.magnitude, *(f.magnitude for f in fresh))
    if config.code in COUNTING_RULES:
        flag.score = float(flag.evidence_count)
    else:
        flag.score = max(flag.score, *(f.score for f in fresh))
    severity = config.severity_for(flag.score)
    if severity.rank > Severity(flag.severity).rank:
        flag.severity = severity.value
    flag.rule_version = config.version
    strongest = max(fresh, key=lambda f: f.score)
    more = f" (+{flag.evidence_count - 1} more)" if flag.evidence_count > 1 else ""
    flag.summary = (strongest.summary + more)[:500]
    flag.updated_at = now


def _refresh_flag(flag: FraudFlag, config: RuleConfig, finding: Finding, now: datetime) -> None:
    """The open flag after one of its pieces of evidence was brought up to date: its
    magnitude and score follow (never down), and its summary is the strongest evidence's
    current text."""
    flag.magnitude = max(flag.magnitude, finding.magnitude)
    if config.code not in COUNTING_RULES:
        flag.score = max(flag.score, finding.score)
    severity = config.severity_for(flag.score)
    if severity.rank > Severity(flag.severity).rank:
        flag.severity = severity.value
    if finding.score >= flag.score:
        more = f" (+{flag.evidence_count - 1} more)" if flag.evidence_count > 1 else ""
        flag.summary = (finding.summary + more)[:500]
    flag.updated_at = now


def _hold(uow: UnitOfWork, clock: Clock, flags: dict[int, FraudFlag]) -> int:
    reasons = {d: f"fraud flag {f.id} ({f.rule}): {f.summary}" for d, f in flags.items()}
    details = {d: {"flag_id": f.id, "rule": f.rule} for d, f in flags.items()}
    return len(holds.change_holds(uow, clock, SYSTEM, reasons, details=details))

"""Four-eyes approvals under concurrency (issue 24, part 2): however approvers race or
retry, an approved action applies exactly once. Threads on real connections; on
PostgreSQL the approval row's lock and the gate's conditional claim are what hold it
(SQLite serialises writers, and the same assertions hold there)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import Clock
from rewards_engine.config import Settings
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import DomainError
from rewards_engine.models import AuditRecord, LedgerTransfer
from rewards_engine.runtime import Runtime
from rewards_engine.services import approvals, approving, donors, ledger, support
from rewards_engine.services.approvals import ApprovalView

AGENT = Actor("support:agent", "support")


def _requested(runtime: Runtime, amount: int = 15_000) -> tuple[int, int]:
    donor_id = donors.ensure_donor(runtime.db, runtime.clock, "ada").id
    view = support.adjust(
        runtime.db, runtime.clock, AGENT, donor_id, asset="points", amount=amount, reason="goodwill"
    )
    assert isinstance(view, ApprovalView) and view.status == "pending"
    return donor_id, view.id


def _race(runtime: Runtime, approval_id: int, approvers: list[Actor]) -> list[Any]:
    start = threading.Barrier(len(approvers))
    outcomes: list[Any] = [None] * len(approvers)

    def run(index: int, approver: Actor) -> None:
        start.wait()
        try:
            outcomes[index] = approving.approve(runtime, approver, approval_id).status
        except DomainError as error:
            outcomes[index] = error.code

    threads = [
        threading.Thread(target=run, args=(index, approver))
        for index, approver in enumerate(approvers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _applied_once(runtime: Runtime, donor_id: int, approval_id: int) -> None:
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 15_000
    with runtime.db.read() as session:
        transfers = session.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.kind == "adjustment")
        )
        applied = session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == "approval.applied")
        )
    assert (transfers, applied) == (1, 1)
    assert approvals.get_request(runtime.db, approval_id).status == "applied"


def test_two_approvers_racing_apply_the_action_once(runtime: Runtime) -> None:
    donor_id, approval_id = _requested(runtime)
    leads = [Actor(f"support_lead:lead-{n}", "support_lead") for n in range(4)]
    outcomes = Counter(_race(runtime, approval_id, leads))
    assert outcomes == {"applied": 1, "approval_already_decided": 3}, outcomes
    _applied_once(runtime, donor_id, approval_id)


def test_one_approver_retrying_at_once_applies_the_action_once(runtime: Runtime) -> None:
    donor_id, approval_id = _requested(runtime)
    lead = Actor("support_lead:lead-1", "support_lead")
    outcomes = Counter(_race(runtime, approval_id, [lead] * 6))
    assert outcomes == {"applied": 6}, outcomes  # each retry answers with the one result
    _applied_once(runtime, donor_id, approval_id)


def test_the_policy_is_read_from_the_configured_fixtures_dir(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    (tmp_path / "approvals.toml").write_text(
        'expires_hours = 1\n[actions."points.adjust"]\nabove = 100\napprovers = ["admin"]\n'
    )
    runtime = build_runtime(replace(settings, fixtures_dir=tmp_path), clock=clock)
    try:
        donor_id = donors.ensure_donor(runtime.db, runtime.clock, "ada").id
        small = support.adjust(
            runtime.db, clock, AGENT, donor_id, asset="points", amount=100, reason="goodwill"
        )
        assert not isinstance(small, ApprovalView)
        gated = support.adjust(
            runtime.db, clock, AGENT, donor_id, asset="points", amount=101, reason="goodwill"
        )
        assert isinstance(gated, ApprovalView)
        assert gated.expires_at == clock.now() + timedelta(hours=1)
    finally:
        runtime.close()

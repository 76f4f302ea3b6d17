"""Staff decisions as the staff policy and the four eyes have them: a support lead asks,
an admin approves when a second person is needed (docs/staff-roles.md)."""

from __future__ import annotations

from typing import Any

from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime
from rewards_engine.services import approving, fraud
from rewards_engine.services.approvals import ApprovalView

LEAD = Actor(id="support_lead:lead-1", role="support_lead")
BOSS = Actor(id="admin:boss", role="admin")


def resolve_flag(runtime: Runtime, flag_id: int, **decision: Any) -> Any:
    """Resolve a flag as a support lead; a decision that needs a second person (dismissing
    a high-severity flag, a ban) is approved by an admin. The decision's result."""
    outcome = fraud.resolve(runtime, LEAD, flag_id, **decision)
    if isinstance(outcome, ApprovalView):
        view = approving.approve(runtime, BOSS, outcome.id)
        assert view.status == "applied" and view.result is not None, view
        return view.result
    return outcome

"""The staff roles page: every role's actions and limits; admins change a role here
(the same use case as PUT /v1/admin/staff-roles/{role}: a new version, audited)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from api import context
from api.console import forms
from api.console.blueprint import bp
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.errors import DomainError, InvalidInput
from rewards_engine.services import staff_policy

BOUNDS = ("per_action", "per_day")


@bp.get("/staff-roles")
@staff_required(policy.ROLES_READ)
def staff_roles() -> Any:
    return render_template(
        "console/staff_roles.html",
        roles=staff_policy.list_roles(context.runtime().db),
        actions=sorted(policy.ACTIONS),
        measured=sorted(policy.MEASURED),
        bounds=BOUNDS,
    )


def _limits() -> dict[str, dict[str, int]]:
    """``<action>.<bound>`` fields; an empty one is no bound."""
    limits: dict[str, dict[str, int]] = {}
    for action in sorted(policy.MEASURED):
        for bound in BOUNDS:
            name = f"{action}.{bound}"
            if request.form.get(name, "").strip():
                value = forms.whole_number(name)
                if value <= 0:
                    raise InvalidInput(f"{name} is a whole number from 1", field=name)
                limits.setdefault(action, {})[bound] = value
    return limits


@bp.post("/staff-roles/<role>")
@staff_required(policy.ROLES_CHANGE)
def change_staff_role(role: str) -> Any:
    runtime = context.runtime()
    try:
        changes = {
            "may": request.form.getlist("may"),
            "limits": _limits(),
            "description": forms.text("description", required=False) or "",
        }
        view = staff_policy.update_role(
            runtime.db, runtime.clock, g.staff.actor(), role, changes, forms.text("reason") or ""
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        flash(f"Role {view.role} is now version {view.version}.", "ok")
    return redirect(url_for("console.staff_roles"), 303)

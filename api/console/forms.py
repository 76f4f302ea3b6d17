"""Reading the console's form fields: a bad value is an InvalidInput naming its field,
shown to the agent as the API would answer it."""

from __future__ import annotations

from flask import flash, request

from rewards_engine.domain.errors import DomainError, InvalidInput
from rewards_engine.domain.ids import INT64_MAX


def text(name: str, *, required: bool = True) -> str | None:
    value = request.form.get(name, "").strip()
    if not value and required:
        raise InvalidInput(f"{name.replace('_', ' ')} is required", field=name)
    return value or None


def whole_number(name: str) -> int:
    raw = request.form.get(name, "").strip().replace(",", "")[:40]
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or abs(value) > INT64_MAX:
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number", field=name)
    return value


def checked(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1")


def report_failure(error: DomainError) -> None:
    """Flash the refusal; the page the agent came from shows it above their form."""
    where = f" ({error.field})" if error.field else ""
    flash(f"Nothing was changed{where}: {error.message}", "error")

"""Who caused a change: a donor, a staff member or a scheduled job."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The author of a write, as the ledger and the audit log record it."""

    id: str  # "donor:<donor id>", "support:<sub>", "admin:<sub>" or "system:<job>"
    role: str
    request_id: str | None = None

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(id=f"system:{job}", role="system")

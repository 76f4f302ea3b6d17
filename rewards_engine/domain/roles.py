"""Who may do what: the three roles a token can carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DONOR = "donor"
    SUPPORT = "support"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})


def role_allows(held: Role, required: Role) -> bool:
    """Admins may do what support staff do; donors only what donors do."""
    if held == required:
        return True
    return held == Role.ADMIN and required == Role.SUPPORT

"""Who may do what: the roles a token can carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DONOR = "donor"
    SUPPORT = "support"
    ADMIN = "admin"
    SERVICE = "service"  # the camera maker's video pipeline reporting received clips


STAFF_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})


def role_allows(held: Role, required: Role) -> bool:
    """Admins may do what support staff do; donors and services only their own."""
    if held == required:
        return True
    return held == Role.ADMIN and required == Role.SUPPORT

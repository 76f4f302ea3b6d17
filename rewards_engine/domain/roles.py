"""Who may do what: the roles a token can carry.

What each staff role may do, and up to which amount, is data (fixtures/staff_roles.toml,
changed by admins): see ``domain/staff_policy.py``. This module only names the roles.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DONOR = "donor"
    SUPPORT = "support"  # support tier 1: small corrections, single-clip reviews
    SUPPORT_LEAD = "support_lead"
    FINANCE = "finance"
    ADMIN = "admin"
    SERVICE = "service"  # the camera maker's video pipeline reporting received clips


# The roles whose permissions come from the staff policy (console and /v1/admin).
STAFF_ROLES = frozenset({Role.SUPPORT, Role.SUPPORT_LEAD, Role.FINANCE, Role.ADMIN})

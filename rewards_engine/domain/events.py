"""Events a committed transaction publishes (see ``UnitOfWork.publish``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DonorChanged:
    """Something a request reads about the donor changed (consent, status, profile)."""

    donor_id: int

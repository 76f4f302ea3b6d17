"""Every table of the engine; importing this package registers them on ``metadata``."""

from rewards_engine.models.audit import AuditRecord
from rewards_engine.models.base import metadata
from rewards_engine.models.campaigns import Campaign, ConsentVersion
from rewards_engine.models.donors import Donor

__all__ = ["AuditRecord", "Campaign", "ConsentVersion", "Donor", "metadata"]

"""Every table of the engine; importing this package registers them on ``metadata``."""

from rewards_engine.models.approvals import ApprovalRequest
from rewards_engine.models.audit import AuditRecord
from rewards_engine.models.base import metadata
from rewards_engine.models.cameras import Camera, CameraRegistration
from rewards_engine.models.campaigns import Campaign, ConsentVersion
from rewards_engine.models.clips import CampaignCounter, Clip, SubmissionBatch
from rewards_engine.models.consents import ConsentRecord
from rewards_engine.models.donors import Donor
from rewards_engine.models.fraud import FraudEvidence, FraudFlag, FraudRule, FraudScanState
from rewards_engine.models.gift_card_products import GiftCardProduct
from rewards_engine.models.installation import InstallationIdentity
from rewards_engine.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from rewards_engine.models.medals import MedalAward, MedalDefinition, MedalNotification
from rewards_engine.models.notifications import (
    BoardFollow,
    Notification,
    NotificationBroadcast,
)
from rewards_engine.models.payouts import PayoutBatch, PayoutItem, WebhookEvent
from rewards_engine.models.privacy import DataRequest, ErasedSubject, InstallationSecret
from rewards_engine.models.push import PushDelivery, PushDevice, PushPreferences
from rewards_engine.models.requests import IdempotencyKey
from rewards_engine.models.rewards import (
    GiftCardCode,
    GiftCardOrder,
    Redemption,
    RedemptionEvent,
    RewardItem,
)
from rewards_engine.models.sessions import StaffSession, TokenRevocation
from rewards_engine.models.staff import StaffDailyUsage, StaffRole
from rewards_engine.models.uploads import ClipClaim, DonorVideoKey
from rewards_engine.models.wall import WallOutbox, WallSnapshot, WallSnapshotEntry, WallTally

__all__ = [
    "ApprovalRequest",
    "AuditRecord",
    "BoardFollow",
    "Camera",
    "CameraRegistration",
    "Campaign",
    "CampaignCounter",
    "Clip",
    "ClipClaim",
    "ConsentRecord",
    "ConsentVersion",
    "DataRequest",
    "Donor",
    "DonorVideoKey",
    "ErasedSubject",
    "FraudEvidence",
    "FraudFlag",
    "FraudRule",
    "FraudScanState",
    "GiftCardCode",
    "GiftCardOrder",
    "GiftCardProduct",
    "IdempotencyKey",
    "InstallationIdentity",
    "InstallationSecret",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransfer",
    "MedalAward",
    "MedalDefinition",
    "MedalNotification",
    "Notification",
    "NotificationBroadcast",
    "PayoutBatch",
    "PayoutItem",
    "PushDelivery",
    "PushDevice",
    "PushPreferences",
    "Redemption",
    "RedemptionEvent",
    "RewardItem",
    "StaffDailyUsage",
    "StaffRole",
    "StaffSession",
    "SubmissionBatch",
    "TokenRevocation",
    "WallOutbox",
    "WallSnapshot",
    "WallSnapshotEntry",
    "WallTally",
    "WebhookEvent",
    "metadata",
]

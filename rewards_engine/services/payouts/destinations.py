"""Destinations and the rails that carry them: which configured rail (see
``bootstrap.configured_rails``) a destination or a batch goes through, a destination
validated and encrypted before anything is written, and a batch as a provider
receives it (its destinations decrypted).

Every other part of the package needs these, so this module needs none of them; the
package's actor ``SYSTEM`` lives here for the same reason (``create_batches`` tells it
from a person's by identity).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.payouts import DestinationKind, ItemStatus
from rewards_engine.models import PayoutBatch, PayoutItem
from rewards_engine.providers.payouts import OutgoingBatch, OutgoingItem
from rewards_engine.runtime import Runtime
from rewards_engine.services.donors import PayoutDestination

SYSTEM = Actor.system("payouts")


def provider_name(runtime: Runtime, kind: DestinationKind) -> str:
    return kind.provider if kind.provider in runtime.payout_providers else "manual"


def _batch_provider(runtime: Runtime, batch: PayoutBatch) -> str:
    return batch.provider if batch.provider in runtime.payout_providers else "manual"


def prepare_destination(runtime: Runtime, raw: dict[str, str] | None) -> PayoutDestination | None:
    """Validate, normalise, mask and encrypt a destination, before anything is written."""
    if raw is None:
        return None
    kind, value = rules.parse_destination(raw.get("kind", ""), raw.get("value", ""))
    box = runtime.vault
    newest, *older = box.fingerprints(value)
    return PayoutDestination(
        kind.value, box.encrypt(value), rules.mask(kind, value), newest, tuple(older)
    )


def _outgoing(
    runtime: Runtime, session: Session, batch: PayoutBatch, only_open: bool = True
) -> OutgoingBatch:
    query = (
        select(PayoutItem).where(col(PayoutItem.batch_id) == batch.id).order_by(col(PayoutItem.id))
    )
    if only_open:  # no outcome yet: a resend carries the same items as the first send
        query = query.where(
            col(PayoutItem.status).in_([ItemStatus.QUEUED.value, ItemStatus.SUBMITTED.value])
        )
    box = runtime.vault
    items = [
        OutgoingItem(
            item.id,
            item.sender_item_id,
            item.amount_cents,
            item.currency,
            DestinationKind(item.destination_kind),
            box.decrypt(item.destination),
        )
        for item in session.scalars(query)
    ]
    sent_ago = None if batch.submitted_at is None else runtime.clock.now() - batch.submitted_at
    return OutgoingBatch(
        batch.id, batch.sender_batch_id, batch.currency, items, batch.provider_batch_id, sent_ago
    )

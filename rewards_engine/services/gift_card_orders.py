"""Gift cards ordered from a provider (Tremendous), exactly once.

Three steps, never an HTTP call inside a transaction:

1. The redemption's transaction (services/redemptions.py ``redeem``) takes the points,
   records the redemption ``ordering`` and a :class:`GiftCardOrder` whose external id
   is ``<installation id>-<redemption id>`` (services/installation_identity.py: another
   installation on the same account, or this database recreated, numbers its
   redemptions from 1 again and must never be answered with our orders). It commits.
2. :func:`place` records the attempt (a short transaction), calls the provider with
   that external id, then records the answer in another transaction: an order →
   ordered / pending_approval / delivered; a definite refusal, once a look-up by
   external id has found no order → failed, points refunded once (the ledger's
   idempotency key ``refund:redemption:<id>``); no answer (timeout, 5xx, reset) →
   stays ``ordering``, nothing refunded.
3. :func:`reconcile` (the ``gift-card-orders`` job) moves open orders forward: an
   order with a provider id is read again; one without is looked up by its external
   id, and ordered again with the same external id only when none is found and the
   last attempt is older than ``TREMENDOUS_RETRY_AFTER_S`` (Tremendous answers a
   repeated external id with the first order, so even a lagging look-up cannot make
   a second card). A crash between step 1's commit and step 2's call is recovered
   the same way.

A late or repeated answer never moves a redemption backwards
(:func:`~rewards_engine.domain.redemptions.provider_move_allowed`), and the refund
is a ledger transfer with a fixed idempotency key: at most once however many
answers, workers or webhooks arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.config import TremendousSettings
from rewards_engine.crypto import Vault
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.redemptions import (
    PROVIDER_OPEN,
    Status,
    order_outcome,
    provider_move_allowed,
)
from rewards_engine.models import Donor, GiftCardOrder, Redemption, RewardItem
from rewards_engine.providers.gift_cards import (
    GiftCardOrders,
    OrderRefused,
    OrderRequest,
    OrderUnknown,
    ProviderOrder,
)
from rewards_engine.services.installation_identity import external_id, installation_id

log = logging.getLogger(__name__)
PROVIDER = Actor.system("gift-card-provider")
FIRST_CALL_GRACE = timedelta(minutes=1)  # an unsent order older than this was orphaned
DOWN_AFTER = 3  # unanswered calls in a row that end a job run: the provider is down


def open_order(
    session: Session, now: datetime, redemption: Redemption, item: RewardItem, *, send: bool
) -> None:
    """In the redemption's transaction: the order row, and ``ordering`` when it is to
    be sent now (a donor under review keeps it ``requested`` until released)."""
    session.add(
        GiftCardOrder(
            redemption_id=redemption.id,
            provider=item.provider,
            external_id=external_id(installation_id(session, now), redemption.id),
            created_at=now,
            updated_at=now,
        )
    )
    if send:
        _move(session, now, redemption, Status.ORDERING, None)


def _move(
    session: Session, now: datetime, redemption: Redemption, target: Status, note: str | None
) -> None:
    from rewards_engine.services import redemptions  # the redemption helpers import us

    before = redemption.status
    if target in {Status.FAILED, Status.CANCELLED}:
        redemptions._give_back(session, now, PROVIDER, redemption)
    redemption.status = target.value
    redemption.note = note or redemption.note
    redemption.updated_at = now
    redemptions._event(session, now, redemption, before, PROVIDER, note)


def place(
    db: Database, clock: Clock, orders: GiftCardOrders, vault: Vault, redemption_id: int
) -> str:
    """Order the card of a redemption that is ``ordering`` and has no provider order
    yet; returns the redemption's status afterwards. Safe to call twice, or beside the
    job: the provider answers a repeated external id with the first order."""
    with db.transaction() as uow:
        session = uow.session
        order = session.get(GiftCardOrder, redemption_id, with_for_update=True)
        redemption = session.get(Redemption, redemption_id)
        assert order is not None and redemption is not None
        if redemption.status != Status.ORDERING or order.order_id is not None:
            return redemption.status
        item = session.get(RewardItem, redemption.item_id)
        assert item is not None
        request = OrderRequest(
            external_id=order.external_id,
            product_id=item.sku or item.id,
            amount=str(Decimal(item.denomination_cents or 0) / 100),
            currency=item.currency or "USD",
            recipient_name=f"Redemption {redemption_id}",
        )
        now = clock.now()
        order.attempts += 1
        order.sent_at = order.sent_at or now
        order.checked_at = now
        order.updated_at = now
    try:
        answer = orders.place(request)
    except OrderRefused as refused:
        return _refused(db, clock, orders, vault, redemption_id, request.external_id, refused)
    except OrderUnknown as unknown:
        return _no_answer(db, clock, redemption_id, str(unknown))
    return record(db, clock, vault, redemption_id, answer)


def _refused(
    db: Database,
    clock: Clock,
    orders: GiftCardOrders,
    vault: Vault,
    redemption_id: int,
    ours: str,
    refused: OrderRefused,
) -> str:
    """A refusal fails the redemption only once a look-up by external id finds no order
    (a provider answering a repeated external id with an error would otherwise fail a
    card that exists)."""
    try:
        found = orders.find(ours)
    except OrderUnknown as unknown:
        return _no_answer(db, clock, redemption_id, f"refused ({refused}); look-up: {unknown}")
    if found is not None:
        return record(db, clock, vault, redemption_id, found)
    reason = f"the provider refused the order: {refused.reason}"[:300]
    with db.transaction() as uow:
        session = uow.session
        redemption = _locked(session, redemption_id)
        order = session.get(GiftCardOrder, redemption_id)
        assert order is not None
        now = clock.now()
        order.last_error, order.updated_at = reason, now
        if provider_move_allowed(Status(redemption.status), Status.FAILED):
            _move(session, now, redemption, Status.FAILED, reason)
        order.open = Status(redemption.status) in PROVIDER_OPEN
        log.warning(
            "gift card order refused",
            extra={"fields": {"redemption_id": redemption_id, "code": refused.code}},
        )
        return redemption.status


def _no_answer(db: Database, clock: Clock, redemption_id: int, error: str) -> str:
    """No answer to trust: the redemption stays where it is, nothing is refunded; the
    job looks the order up later."""
    with db.transaction() as uow:
        order = uow.session.get(GiftCardOrder, redemption_id, with_for_update=True)
        redemption = uow.session.get(Redemption, redemption_id)
        assert order is not None and redemption is not None
        order.last_error = error[:300]
        order.updated_at = order.checked_at = clock.now()  # to the back of the job's queue
        log.warning(
            "gift card order unanswered",
            extra={"fields": {"redemption_id": redemption_id, "error": error[:300]}},
        )
        return redemption.status


def _locked(session: Session, redemption_id: int) -> Redemption:
    """The donor's row then the redemption's, as every redemption change locks them."""
    donor_id = session.scalar(
        select(col(Redemption.donor_id)).where(col(Redemption.id) == redemption_id)
    )
    session.get(Donor, donor_id, with_for_update=True)
    redemption = session.get(Redemption, redemption_id, with_for_update=True)
    assert redemption is not None
    return redemption


def record(
    db: Database, clock: Clock, vault: Vault, redemption_id: int, answer: ProviderOrder
) -> str:
    """Record what the provider says of the order (an answer, a poll or a fetched
    webhook resource) and move the redemption on when that is a move forward; returns
    its status."""
    with db.transaction() as uow:
        session = uow.session
        redemption = _locked(session, redemption_id)
        order = session.get(GiftCardOrder, redemption_id, with_for_update=True)
        assert order is not None
        now = clock.now()
        if answer.external_id not in (None, order.external_id) or (
            order.order_id not in (None, answer.order_id)
        ):  # another redemption's order: never applied to this one
            order.last_error = f"an answer for order {answer.order_id} does not match"[:300]
            log.warning("gift card order answer mismatched",
                        extra={"fields": {"redemption_id": redemption_id}})  # fmt: skip
            return redemption.status
        order.order_id = answer.order_id
        order.reward_id = answer.reward_id or order.reward_id
        order.order_status = answer.status[:40]
        order.delivery_status = (answer.delivery_status or "")[:16] or None
        if answer.link:  # the newest: generating a link may void the one before
            order.link_encrypted = vault.encrypt(answer.link)
        order.last_error = None
        order.checked_at = order.updated_at = now
        has_link = order.link_encrypted is not None
        target = order_outcome(answer.status, answer.delivery_status, has_link)
        current = Status(redemption.status)
        if target is not None and provider_move_allowed(current, target):
            note = f"provider order {answer.status.lower()}" if target in RETURNS else None
            _move(session, now, redemption, target, note)
        order.open = Status(redemption.status) in PROVIDER_OPEN
        return redemption.status


RETURNS = frozenset({Status.FAILED, Status.CANCELLED})


@dataclass
class ReconcileReport:
    """What one run of the job did (logged as counts)."""

    checked: int = 0
    sent: int = 0
    moved: int = 0
    unanswered: int = 0
    stuck: int = 0
    closed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def reconcile(
    db: Database,
    clock: Clock,
    providers: Mapping[str, GiftCardOrders],
    vault: Vault,
    settings: TremendousSettings,
    *,
    auto_fulfil: bool = True,
    limit: int = 200,
) -> ReconcileReport:
    """Move open provider orders forward, least recently checked first. A run ends
    after ``DOWN_AFTER`` unanswered calls in a row (each may take the whole timeout:
    a provider that is down would otherwise hold the job for limit times the timeout)."""
    report = ReconcileReport()
    in_a_row = 0
    with db.read() as session:
        rows = session.execute(
            select(
                GiftCardOrder,
                col(Redemption.status),
                col(Donor.on_hold),
                col(Donor.status),
            )
            .join(Redemption, col(Redemption.id) == col(GiftCardOrder.redemption_id))
            .join(Donor, col(Donor.id) == col(Redemption.donor_id))
            .where(col(GiftCardOrder.open).is_(True))
            .order_by(col(GiftCardOrder.checked_at).is_not(None), col(GiftCardOrder.checked_at))
            .limit(limit)
        ).all()
        snapshot = [(o.redemption_id, o.provider, o.order_id, o.external_id, o.attempts,
                     o.sent_at, o.created_at, s, h, d) for o, s, h, d in rows]  # fmt: skip
    now = clock.now()
    for (
        redemption_id,
        provider,
        order_id,
        ours,
        attempts,
        sent_at,
        created,
        status,
        held,
        donor,
    ) in snapshot:
        report.checked += 1
        orders = providers.get(provider)
        current = Status(status)
        if current not in PROVIDER_OPEN and current != Status.REQUESTED:
            _close(db, redemption_id)  # cancelled or failed by support while requested
            report.closed += 1
            continue
        if orders is None:
            report.stuck += 1  # its provider is no longer configured
            continue
        if current == Status.REQUESTED:
            if held or donor != "active" or not auto_fulfil:
                continue
            if not _start(db, clock, redemption_id):
                continue
        before = current
        try:
            if order_id is not None:
                after = record(db, clock, vault, redemption_id, orders.fetch(order_id))
            else:
                found = orders.find(ours)
                if found is not None:
                    after = record(db, clock, vault, redemption_id, found)
                elif _may_send(now, attempts, sent_at, created, settings):
                    report.sent += 1
                    after = place(db, clock, orders, vault, redemption_id)
                else:
                    report.stuck += attempts >= settings.max_attempts
                    _checked(db, clock, redemption_id)
                    continue
        except OrderUnknown as unknown:
            _no_answer(db, clock, redemption_id, str(unknown))
            report.unanswered += 1
            in_a_row += 1
            if in_a_row >= DOWN_AFTER:
                break
            continue
        in_a_row = 0
        report.moved += after != before
    log.info("gift card orders reconciled", extra={"fields": report.as_dict()})
    return report


def _may_send(
    now: datetime,
    attempts: int,
    sent_at: datetime | None,
    created: datetime,
    settings: TremendousSettings,
) -> bool:
    """Order (again, same external id) when none was found: never sent and orphaned
    (the process died between the commit and the call), or the last attempt long
    enough ago, within the attempts allowed."""
    if attempts == 0:
        return now - created >= FIRST_CALL_GRACE
    if attempts >= settings.max_attempts or sent_at is None:
        return False
    return now - sent_at >= timedelta(seconds=settings.retry_after_s * attempts)


def _start(db: Database, clock: Clock, redemption_id: int) -> bool:
    """A card redeemed while its donor was under review, to be ordered now."""
    with db.transaction() as uow:
        redemption = _locked(uow.session, redemption_id)
        if redemption.status != Status.REQUESTED:
            return False
        _move(uow.session, clock.now(), redemption, Status.ORDERING, None)
        return True


def _checked(db: Database, clock: Clock, redemption_id: int) -> None:
    with db.transaction() as uow:
        order = uow.session.get(GiftCardOrder, redemption_id)
        if order is not None:
            order.checked_at = clock.now()


def _close(db: Database, redemption_id: int) -> None:
    with db.transaction() as uow:
        order = uow.session.get(GiftCardOrder, redemption_id)
        if order is not None:
            order.open = False

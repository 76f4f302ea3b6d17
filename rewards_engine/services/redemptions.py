"""Redeeming points for rewards: no overspend, no oversell, every move audited.

One redemption is one transaction that takes the points (a ledger transfer that
refuses to take the available balance below zero) and the stock (a gift-card code,
or a camera unit through a conditional decrement), after the donor's row lock: two
redemptions of one donor run one after the other, two of one camera queue on its
row, and a gift card's concurrent redemptions take different codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.crypto import Vault
from rewards_engine.db import Database, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from rewards_engine.domain.ledger import POINTS, AccountKind, AccountRef, Leg, TransferKind
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.redemptions import (
    RETURNING,
    RewardKind,
    Status,
    check_lengths,
    check_transition,
    validate_address,
)
from rewards_engine.models import (
    Donor,
    MedalAward,
    Redemption,
    RedemptionEvent,
    RewardItem,
    WallTally,
)
from rewards_engine.providers.gift_cards import ORDERED, GiftCardOrders, source_for
from rewards_engine.services import (
    audit,
    gift_card_orders,
    gift_card_products,
    idempotency,
    ledger,
    notifications,
    redemption_views,
)

OPEN = [s.value for s in Status if s not in RETURNING]

# The views live in services/redemption_views.py; callers keep using redemptions.*.
ProviderState = redemption_views.ProviderState
RedemptionRecord = redemption_views.RedemptionRecord
RedemptionStep = redemption_views.RedemptionStep
RedemptionView = redemption_views.RedemptionView
all_redemptions = redemption_views.all_redemptions
donor_redemption = redemption_views.donor_redemption
donor_redemptions = redemption_views.donor_redemptions
redemption_view = redemption_views.redemption_view


def _points_legs(donor_id: int, cost: int) -> list[Leg]:
    return [
        Leg(
            AccountRef.donor(donor_id, AccountKind.POINTS_AVAILABLE, POINTS),
            -cost,
            keep_non_negative=True,
        ),
        Leg(AccountRef.program(AccountKind.REDEMPTIONS, POINTS), cost),
    ]


TOLD = {Status.FULFILLED: Kind.REDEMPTION_FULFILLED, Status.SHIPPED: Kind.REDEMPTION_SHIPPED}


def _event(
    session: Session,
    now: datetime,
    redemption: Redemption,
    before: str | None,
    actor: Actor,
    note: str | None = None,
) -> None:
    session.add(
        RedemptionEvent(
            redemption_id=redemption.id,
            from_status=before,
            to_status=redemption.status,
            actor_kind=actor.role,
            note=note,
            created_at=now,
        )
    )
    kind = TOLD.get(Status(redemption.status))
    if redemption.status == Status.DELIVERED and redemption.kind == RewardKind.GIFT_CARD:
        kind = Kind.REDEMPTION_FULFILLED  # a provider's card, its link ready (maybe later)
    if kind is not None:
        item = session.get(RewardItem, redemption.item_id)
        data = {"redemption_id": redemption.id, "reward": item.name if item else ""}
        if kind == Kind.REDEMPTION_SHIPPED:
            data |= {"carrier": redemption.carrier, "tracking": redemption.tracking_number}
        notifications.notify(session, now, redemption.donor_id, kind,
                             f"redemption:{redemption.id}:{redemption.status}", data)  # fmt: skip


def _check_eligible(session: Session, donor_id: int, item: RewardItem) -> None:
    if item.requires_campaign:
        clips = session.scalar(
            select(col(WallTally.clips)).where(
                col(WallTally.board) == f"campaign:{item.requires_campaign}",
                col(WallTally.donor_id) == donor_id,
            )
        )
        if not clips:
            raise Conflict(
                f"{item.name} is for donors of campaign {item.requires_campaign}",
                code="not_eligible",
                details={"requires_campaign": item.requires_campaign},
            )
    if item.requires_medal:
        held = session.scalar(
            select(func.count())
            .select_from(MedalAward)
            .where(
                col(MedalAward.donor_id) == donor_id,
                col(MedalAward.code) == item.requires_medal,
                col(MedalAward.revoked_at).is_(None),
            )
        )
        if not held:
            raise Conflict(
                f"{item.name} is for holders of the {item.requires_medal} medal",
                code="not_eligible",
                details={"requires_medal": item.requires_medal},
            )
    if item.per_donor_limit is not None:
        taken = session.execute(
            select(func.count())
            .select_from(Redemption)
            .where(
                col(Redemption.donor_id) == donor_id,
                col(Redemption.item_id) == item.id,
                col(Redemption.status).in_(OPEN),
            )
        ).scalar_one()
        if taken >= item.per_donor_limit:
            raise Conflict(
                f"at most {item.per_donor_limit} of {item.name} per donor",
                code="limit_reached",
                details={"limit": item.per_donor_limit},
            )


def redeem(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    item_id: str,
    shipping_address: dict[str, Any] | None,
    *,
    idempotency_key: str | None = None,
    auto_fulfil: bool = True,
    vault: Vault | None = None,
    orders: Mapping[str, GiftCardOrders] | None = None,
    country: str | None = None,
) -> RedemptionView:
    """Spend points on a reward. Gift cards are fulfilled at once (their code shown)
    unless the donor is under review or auto-fulfilment is off; cameras wait for
    support to approve and ship them. A provider's gift card (``orders`` names the
    configured providers) is recorded ``ordering`` and committed, then ordered, then
    the answer recorded: no call runs inside the transaction
    (services/gift_card_orders.py), only where its product serves the donor's
    ``country`` (services/gift_card_products.py)."""
    view = _redeem(db, clock, actor, donor_id, item_id, shipping_address,
                   idempotency_key=idempotency_key, auto_fulfil=auto_fulfil, vault=vault,
                   orders=orders or {}, country=country)  # fmt: skip
    record = view.redemption
    if record.status != Status.ORDERING or view.replayed or vault is None:
        return view  # a replay's order is the job's to settle (it looks it up first)
    item_provider = view.provider
    assert orders is not None and item_provider is not None
    gift_card_orders.place(db, clock, orders[item_provider], vault, record.id)
    return donor_redemption(db, vault, donor_id, record.id)


@retry_on_contention
def _redeem(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    item_id: str,
    shipping_address: dict[str, Any] | None,
    *,
    idempotency_key: str | None,
    auto_fulfil: bool,
    vault: Vault | None,
    orders: Mapping[str, GiftCardOrders],
    country: str | None = None,
) -> RedemptionView:
    key = idempotency.Idempotency.for_request(
        f"donor:{donor_id}",
        idempotency_key,
        "redeem",
        {"item_id": item_id, "shipping_address": shipping_address}
        | ({"country": country} if country else {}),
    )
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        replay = idempotency.claim(session, key, now)
        if replay is not None:
            redemption = session.get(Redemption, replay["redemption_id"])
            assert redemption is not None
            return replace(redemption_view(session, redemption, vault, reveal=True), replayed=True)
        donor = session.get(Donor, donor_id, with_for_update=True)
        if donor is None or donor.status != "active":
            raise Forbidden("this account cannot redeem", code="donor_not_active")
        item = session.get(RewardItem, item_id)
        if item is None or not item.active or (item.provider in ORDERED and (
                item.provider not in orders or vault is None)):  # fmt: skip
            raise InvalidInput(
                f"no reward {item_id!r} on offer", code="unknown_reward", field="reward_id"
            )
        address = None
        if item.kind == RewardKind.CAMERA:
            address = validate_address(shipping_address, list(item.shipping_countries or []))
        elif shipping_address is not None:
            raise InvalidInput("gift cards need no shipping address", field="shipping_address")
        if item.provider in ORDERED:  # before any point moves: a 422 naming the field
            gift_card_products.check_offered(session, item, orders, country)
        _check_eligible(session, donor_id, item)
        redemption = Redemption(
            donor_id=donor_id,
            item_id=item.id,
            kind=item.kind,
            point_cost=item.point_cost,
            status=Status.REQUESTED.value,
            shipping_address=address.as_dict() if address else None,
            created_at=now,
            updated_at=now,
        )
        session.add(redemption)
        session.flush()
        ledger.post(
            session,
            now=now,
            kind=TransferKind.REDEMPTION,
            reference=("redemption", redemption.id),
            actor=actor,
            idempotency_key=f"redeem:{redemption.id}",
            legs=_points_legs(donor_id, item.point_cost),
            reason=item.name,
        )
        _event(session, now, redemption, None, actor)
        if item.kind == RewardKind.GIFT_CARD and item.provider in ORDERED:
            send = auto_fulfil and not donor.on_hold
            gift_card_orders.open_order(session, now, redemption, item, send=send)
        elif item.kind == RewardKind.GIFT_CARD:
            redemption.gift_card_code_id = source_for(item).issue(session, item, redemption.id, now)
            if auto_fulfil and not donor.on_hold:
                _auto_fulfil(session, now, redemption)
        else:  # last: the item's row lock is held only until the commit just after
            taken = session.execute(
                update(RewardItem)
                .where(col(RewardItem.id) == item.id, col(RewardItem.stock) > 0)
                .values(stock=col(RewardItem.stock) - 1)
                .returning(col(RewardItem.stock))
            ).first()
            if taken is None:
                raise Conflict(f"{item.name} is out of stock", code="out_of_stock")
        idempotency.store(session, key, {"redemption_id": redemption.id})
        return redemption_view(session, redemption, vault, reveal=True)


def _auto_fulfil(
    session: Session, now: datetime, redemption: Redemption, note: str | None = None
) -> None:
    """A gift card's code, set aside when it was redeemed, handed to the donor: the one
    step by which a redemption is fulfilled without a person."""
    redemption.status = Status.FULFILLED.value
    redemption.updated_at = now
    _event(session, now, redemption, Status.REQUESTED.value, Actor.system("auto-fulfil"), note)


RELEASED = "fulfilled when the review ended"


def fulfil_after_release(session: Session, now: datetime, donor_ids: list[int]) -> list[int]:
    """Gift cards redeemed while their donor was on hold, fulfilled once the hold is
    released (in the releasing transaction, the donors' rows already locked): the same
    step as auto-fulfilment, for redemptions still ``requested`` with their code set
    aside, of donors now active and not on hold. A second release finds none left, so a
    card is fulfilled once. The caller decides whether auto-fulfilment is on. Returns the
    redemptions fulfilled."""
    if not donor_ids:
        return []
    redemptions = list(
        session.scalars(
            select(Redemption)
            .join(Donor, col(Donor.id) == col(Redemption.donor_id))
            .where(
                col(Redemption.donor_id).in_(donor_ids),
                col(Redemption.kind) == RewardKind.GIFT_CARD.value,
                col(Redemption.status) == Status.REQUESTED.value,
                col(Redemption.gift_card_code_id).is_not(None),
                col(Donor.status) == "active",
                col(Donor.on_hold).is_(False),
            )
            .order_by(col(Redemption.id))
            .with_for_update(of=Redemption)
        )
    )
    for redemption in redemptions:
        _auto_fulfil(session, now, redemption, RELEASED)
    return [r.id for r in redemptions]


@retry_on_contention
def transition(
    db: Database,
    clock: Clock,
    actor: Actor,
    redemption_id: int,
    target: Status,
    *,
    carrier: str | None = None,
    tracking_number: str | None = None,
    reason: str | None = None,
) -> RedemptionView:
    """Move a redemption on (support). Cancelling or failing gives the points and the
    stock back; an illegal move is a 409 naming the current state."""
    check_lengths(carrier=carrier, tracking_number=tracking_number, reason=reason)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        donor_id = session.scalar(
            select(col(Redemption.donor_id)).where(col(Redemption.id) == redemption_id)
        )
        if donor_id is None:
            raise NotFound(f"no redemption {redemption_id}", code="redemption_not_found")
        session.get(Donor, donor_id, with_for_update=True)  # the donor first, as everywhere
        redemption = session.get(Redemption, redemption_id, with_for_update=True)
        assert redemption is not None
        before = Status(redemption.status)
        check_transition(RewardKind(redemption.kind), before, target)
        if target == Status.SHIPPED:
            if not carrier or not tracking_number:
                raise InvalidInput(
                    "shipping needs the carrier and the tracking number",
                    field="tracking_number" if carrier else "carrier",
                )
            redemption.carrier, redemption.tracking_number = carrier, tracking_number
        if target in RETURNING:
            if not reason:
                raise InvalidInput("say why it is cancelled or failed", field="reason")
            _give_back(session, now, actor, redemption)
        if target == Status.FULFILLED and redemption.gift_card_code_id is None:
            item = session.get(RewardItem, redemption.item_id)
            assert item is not None
            redemption.gift_card_code_id = source_for(item).issue(session, item, redemption.id, now)
        redemption.status = target.value
        redemption.note = reason or redemption.note
        redemption.updated_at = now
        _event(session, now, redemption, before.value, actor, reason)
        after: dict[str, str | None] = {"status": target.value}
        if target == Status.SHIPPED:
            after |= {"carrier": carrier, "tracking_number": tracking_number}
        audit.record(
            session,
            clock,
            actor,
            action=f"redemption.{target.value}",
            target_type="redemption",
            target_id=redemption_id,
            before={"status": before.value},
            after=after,
            reason=reason,
        )
        return redemption_view(session, redemption, None, reveal=False)


def _give_back(session: Session, now: datetime, actor: Actor, redemption: Redemption) -> None:
    legs = [
        Leg(leg.account, -leg.amount)
        for leg in _points_legs(redemption.donor_id, redemption.point_cost)
    ]
    ledger.post(
        session,
        now=now,
        kind=TransferKind.REFUND,
        reference=("redemption", redemption.id),
        actor=actor,
        idempotency_key=f"refund:redemption:{redemption.id}",
        legs=legs,
        reason="redemption cancelled",
    )
    if redemption.kind == RewardKind.CAMERA:
        session.execute(
            update(RewardItem)
            .where(col(RewardItem.id) == redemption.item_id)
            .values(stock=col(RewardItem.stock) + 1)
        )
    elif redemption.gift_card_code_id is not None:
        item = session.get(RewardItem, redemption.item_id)
        assert item is not None
        source_for(item).release(session, redemption.gift_card_code_id)
        redemption.gift_card_code_id = None

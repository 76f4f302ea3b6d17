"""Rewards and redemptions: who may redeem what, and the life of a redemption.

States::

    requested ──> approved ──> fulfilled            (gift card: its code is assigned)
        │             └──────> shipped ──> delivered (camera: carrier and tracking)
        └──> cancelled | failed, from any state before delivery

A gift card is delivered when its code is shown to the donor, so ``fulfilled`` is
final for gift cards. Cancelling or failing returns the points (through the ledger)
and the stock (the code or the camera unit) to the inventory.

A gift card ordered from a provider (Tremendous) has the provider's states instead::

    requested ──> ordering ──> ordered ──> delivered
                     │  │         │
                     │  └──> pending_approval ──> cancelled (also from ordered)
                     └──> failed | cancelled (from ordering, ordered or pending_approval)

``ordering`` is recorded, with the points taken, before the provider is called: a
crash or an ambiguous answer (timeout, 5xx, reset) leaves it there, never refunded,
until the order is found by its external id. Only the provider's answers move these
(:func:`order_outcome`); support's moves (:func:`check_transition`) do not reach
them, so no person fails an order the provider may hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rewards_engine.domain.errors import Conflict, InvalidInput


class RewardKind(StrEnum):
    GIFT_CARD = "gift_card"
    CAMERA = "camera"


class Status(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ORDERING = "ordering"  # recorded, points taken; the provider's answer not yet known
    ORDERED = "ordered"  # the provider holds the order; the card not yet delivered
    PENDING_APPROVAL = "pending_approval"  # the provider holds it for an approval


PROVIDER_OPEN = frozenset({Status.ORDERING, Status.ORDERED, Status.PENDING_APPROVAL})


RETURNING = frozenset({Status.CANCELLED, Status.FAILED})  # points and stock go back

_NEXT: dict[RewardKind, dict[Status, frozenset[Status]]] = {
    RewardKind.GIFT_CARD: {
        Status.REQUESTED: frozenset({Status.APPROVED, Status.FULFILLED, *RETURNING}),
        Status.APPROVED: frozenset({Status.FULFILLED, *RETURNING}),
    },
    RewardKind.CAMERA: {
        Status.REQUESTED: frozenset({Status.APPROVED, *RETURNING}),
        Status.APPROVED: frozenset({Status.SHIPPED, *RETURNING}),
        Status.SHIPPED: frozenset({Status.DELIVERED, *RETURNING}),
    },
}


_PROVIDER_NEXT: dict[Status, frozenset[Status]] = {
    Status.REQUESTED: frozenset({Status.ORDERING}),
    Status.ORDERING: frozenset(
        {
            Status.ORDERED,
            Status.PENDING_APPROVAL,
            Status.DELIVERED,
            Status.FAILED,
            Status.CANCELLED,
        }  # an order cancelled before its answer was read
    ),
    Status.PENDING_APPROVAL: frozenset(
        {Status.ORDERED, Status.DELIVERED, Status.CANCELLED, Status.FAILED}
    ),
    Status.ORDERED: frozenset({Status.DELIVERED, Status.CANCELLED, Status.FAILED}),
}


def next_states(kind: RewardKind, current: Status) -> frozenset[Status]:
    """Where a redemption may go from ``current`` (nothing once it is final)."""
    return _NEXT[kind].get(current, frozenset())


def provider_move_allowed(current: Status, target: Status) -> bool:
    """Whether a provider's answer may move a provider-ordered gift card from
    ``current`` to ``target`` (an answer that arrives late never moves it back)."""
    return target in _PROVIDER_NEXT.get(current, frozenset())


# Tremendous's order statuses (developers.tremendous.com/reference/obj-schema-orders)
# and reward delivery statuses. Anything else (a status added later) changes nothing.
_HELD = {"PENDING APPROVAL", "PENDING INTERNAL PAYMENT APPROVAL"}


def order_outcome(
    order_status: str | None, delivery_status: str | None, has_link: bool
) -> Status | None:
    """The redemption status a provider order's state means, or None when it says
    nothing new. EXECUTED with the reward's delivery SUCCEEDED and its link known (the
    card is the link the engine shows) is delivered; FAILED is failed and CANCELED
    cancelled (the provider took no money, or gave it back: the points go back);
    awaiting an approval is pending_approval; EXECUTED otherwise (delivery scheduled,
    pending, *failed*, or no link read yet) and CART are ordered. A failed delivery is
    not a failed redemption: the card exists and is paid for, so support resends it or
    cancels the order; refunding the points as well would pay for it twice."""
    if order_status == "CANCELED":
        return Status.CANCELLED
    if order_status == "FAILED":
        return Status.FAILED
    if order_status in _HELD:
        return Status.PENDING_APPROVAL
    if order_status == "EXECUTED" and has_link and delivery_status == "SUCCEEDED":
        return Status.DELIVERED
    if order_status in {"EXECUTED", "CART"}:
        return Status.ORDERED
    return None


def check_transition(kind: RewardKind, current: Status, target: Status) -> None:
    """Refuse an illegal move with 409, naming the current state and the legal ones."""
    allowed = next_states(kind, current)
    if target not in allowed:
        legal = ", ".join(sorted(s.value for s in allowed)) or "none (it is final)"
        raise Conflict(
            f"a {kind.value} redemption that is {current.value} cannot become {target.value}; "
            f"it can become: {legal}",
            code="illegal_transition",
            details={"current": current.value, "allowed": sorted(s.value for s in allowed)},
        )


TEXT_LIMITS = {"carrier": 40, "tracking_number": 64, "reason": 300}


def check_lengths(**values: str | None) -> None:
    """Carrier, tracking number and reason fit their columns (a 422, not a database error)."""
    for field, value in values.items():
        limit = TEXT_LIMITS[field]
        if value is not None and len(value) > limit:
            raise InvalidInput(f"{field} has at most {limit} characters", field=field)


_COUNTRY = re.compile(r"^[A-Z]{2}$")
_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,11}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")


@dataclass(frozen=True)
class Address:
    """Where a camera goes. Personal data: erased with the donor."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None
    phone: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return dict(vars(self))


def validate_address(raw: dict[str, object] | None, countries: list[str]) -> Address:
    """An address the item ships to, or :class:`InvalidInput` naming the field."""
    if raw is None:
        raise InvalidInput(
            "a camera needs a shipping address", code="address_required", field="shipping_address"
        )

    def text(name: str, limit: int, required: bool = True) -> str | None:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise InvalidInput(
                    f"{name} is required", code="invalid_address", field=f"shipping_address.{name}"
                )
            return None
        if not isinstance(value, str) or len(value.strip()) > limit:
            raise InvalidInput(
                f"{name} is text of at most {limit} characters",
                code="invalid_address",
                field=f"shipping_address.{name}",
            )
        return value.strip()

    stray = sorted(set(raw) - set(Address.__dataclass_fields__))
    if stray:
        raise InvalidInput(
            f"unknown field {stray[0]}",
            code="invalid_address",
            field=f"shipping_address.{stray[0]}",
        )
    country = (text("country", 2) or "").upper()
    if not _COUNTRY.match(country):
        raise InvalidInput(
            "country is an ISO 3166 two-letter code",
            code="invalid_address",
            field="shipping_address.country",
        )
    if country not in countries:
        raise InvalidInput(
            f"this item ships to {', '.join(countries)}; not to {country}",
            code="country_not_served",
            field="shipping_address.country",
        )
    postal = text("postal_code", 12)
    if postal is not None and not _POSTAL.match(postal):
        raise InvalidInput(
            "postal_code is 2 to 12 letters, digits, spaces or -",
            code="invalid_address",
            field="shipping_address.postal_code",
        )
    phone = text("phone", 20, required=False)
    if phone is not None and not _PHONE.match(phone):
        raise InvalidInput(
            "phone is 6 to 20 digits, spaces, ( ) - and a leading +",
            code="invalid_address",
            field="shipping_address.phone",
        )
    return Address(
        name=text("name", 100) or "",
        line1=text("line1", 200) or "",
        city=text("city", 100) or "",
        postal_code=postal or "",
        country=country,
        line2=text("line2", 200, required=False),
        region=text("region", 100, required=False),
        phone=phone,
    )


def mask_code(last4: str) -> str:
    """What support staff see of a gift-card code: never more than its last four."""
    return f"••••{last4}"

"""The provider's answers mapped to redemption states (domain/redemptions.py): pure."""

from __future__ import annotations

import pytest

from rewards_engine.domain.redemptions import (
    RewardKind,
    Status,
    next_states,
    order_outcome,
    provider_move_allowed,
)


@pytest.mark.parametrize(
    ("order", "delivery", "link", "expected"),
    [
        ("EXECUTED", "SUCCEEDED", True, Status.DELIVERED),
        ("EXECUTED", "SUCCEEDED", False, Status.ORDERED),  # the link not read yet
        ("EXECUTED", "PENDING", True, Status.ORDERED),
        ("EXECUTED", "SCHEDULED", False, Status.ORDERED),
        ("EXECUTED", "FAILED", True, Status.ORDERED),  # a failed delivery is no refund
        ("CART", None, False, Status.ORDERED),
        ("PENDING APPROVAL", "SCHEDULED", False, Status.PENDING_APPROVAL),
        ("PENDING INTERNAL PAYMENT APPROVAL", None, False, Status.PENDING_APPROVAL),
        ("FAILED", None, False, Status.FAILED),
        ("CANCELED", "SCHEDULED", False, Status.CANCELLED),
        ("SOMETHING NEW", "SUCCEEDED", True, None),  # unknown: changes nothing
    ],
)
def test_order_outcome(
    order: str, delivery: str | None, link: bool, expected: Status | None
) -> None:
    assert order_outcome(order, delivery, link) == expected


def test_answers_never_move_a_redemption_back_nor_out_of_a_final_state() -> None:
    assert provider_move_allowed(Status.ORDERING, Status.DELIVERED)
    assert provider_move_allowed(Status.PENDING_APPROVAL, Status.CANCELLED)
    assert provider_move_allowed(Status.ORDERING, Status.CANCELLED)  # cancelled, answer lost
    assert not provider_move_allowed(Status.DELIVERED, Status.FAILED)
    assert not provider_move_allowed(Status.ORDERED, Status.PENDING_APPROVAL)
    assert not provider_move_allowed(Status.FAILED, Status.DELIVERED)
    assert not provider_move_allowed(Status.CANCELLED, Status.ORDERED)


def test_support_moves_do_not_reach_the_provider_states() -> None:
    for state in (Status.ORDERING, Status.ORDERED, Status.PENDING_APPROVAL):
        assert next_states(RewardKind.GIFT_CARD, state) == frozenset()

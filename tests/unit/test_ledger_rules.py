import pytest

from rewards_engine.domain.ledger import (
    POINTS,
    AccountKind,
    AccountRef,
    Leg,
    UnbalancedTransfer,
    check_balanced,
    issue,
    move,
)


def test_issue_and_move_balance_per_currency() -> None:
    legs = issue(7, AccountKind.POINTS_PENDING, POINTS, 50) + issue(
        7, AccountKind.CASH_PENDING, "USD", 400
    )
    check_balanced(legs)
    check_balanced(move(7, AccountKind.CASH_PENDING, AccountKind.CASH_AVAILABLE, "USD", 400))
    assert legs[0].account == AccountRef("donor:7", AccountKind.POINTS_PENDING, POINTS)
    assert legs[0].account.donor_id == 7
    assert legs[1].account.donor_id is None


@pytest.mark.parametrize(
    "legs",
    [
        [],
        [Leg(AccountRef.donor(1, AccountKind.POINTS_AVAILABLE, POINTS), 5)],
        [
            Leg(AccountRef.donor(1, AccountKind.POINTS_AVAILABLE, POINTS), 5),
            Leg(AccountRef.program(AccountKind.REWARDS_ISSUED, POINTS), -4),
        ],
        [
            Leg(AccountRef.donor(1, AccountKind.CASH_AVAILABLE, "USD"), 5),
            Leg(AccountRef.program(AccountKind.REWARDS_ISSUED, "EUR"), -5),
        ],
        [
            Leg(AccountRef.donor(1, AccountKind.POINTS_AVAILABLE, POINTS), 0),
            Leg(AccountRef.program(AccountKind.REWARDS_ISSUED, POINTS), 0),
        ],
    ],
)
def test_unbalanced_transfers_are_refused(legs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnbalancedTransfer):
        check_balanced(legs)

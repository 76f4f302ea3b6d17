"""The ledger's guarantees: balanced, append-only, verifiable."""

import pytest
from click.testing import CliRunner
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from rewards_engine.cli import cli
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, Unavailable
from rewards_engine.domain.ledger import POINTS, AccountKind, TransferKind, issue, move
from rewards_engine.pagination import encode_cursor
from rewards_engine.services import ledger, ledger_accounts
from rewards_engine.services.donors import ensure_donor
from tests.support.factories import add_campaign

SYSTEM = Actor.system("test")


@pytest.fixture
def donor_id(runtime) -> int:
    return ensure_donor(runtime.db, runtime.clock, "ledger-donor").id


def post(runtime, key: str, legs, kind=TransferKind.ADJUSTMENT):  # type: ignore[no-untyped-def]
    with runtime.db.transaction() as uow:
        return ledger.post(
            uow.session,
            now=runtime.clock.now(),
            kind=kind,
            reference=("test", 1),
            actor=SYSTEM,
            idempotency_key=key,
            legs=legs,
        )


def test_the_same_key_posts_once(runtime, donor_id) -> None:
    legs = issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 30)
    assert post(runtime, "k1", legs) is not None
    assert post(runtime, "k1", legs) is None
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 30


def test_a_spend_cannot_take_a_guarded_balance_below_zero(runtime, donor_id) -> None:
    post(runtime, "fund", issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 10))
    legs = move(
        donor_id,
        AccountKind.POINTS_AVAILABLE,
        AccountKind.POINTS_PENDING,
        POINTS,
        11,
        keep_source_non_negative=True,
    )
    with pytest.raises(Conflict):
        post(runtime, "spend", legs)
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 10
    exact = move(
        donor_id,
        AccountKind.POINTS_AVAILABLE,
        AccountKind.POINTS_PENDING,
        POINTS,
        10,
        keep_source_non_negative=True,
    )
    assert post(runtime, "spend", exact) is not None


def test_account_ids_are_remembered_but_never_one_a_rolled_back_transaction_created(
    runtime, donor_id
) -> None:
    """A process keeps the account ids it has read (two round trips fewer a submission),
    but not those its own transaction created: that transaction may roll back, and
    SQLite then hands the same id to the next account created, another donor's."""
    other = ensure_donor(runtime.db, runtime.clock, "other-donor").id
    earn = issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 10)
    with pytest.raises(RuntimeError), runtime.db.transaction() as uow:
        for key in ("earn", "bonus"):  # the second finds the account the first created
            ledger.post(
                uow.session,
                now=runtime.clock.now(),
                kind=TransferKind.ADJUSTMENT,
                reference=("test", 1),
                actor=SYSTEM,
                idempotency_key=key,
                legs=earn,
            )
        raise RuntimeError("the use case fails after posting: all of it rolls back")
    post(runtime, "other", issue(other, AccountKind.POINTS_AVAILABLE, POINTS, 5))
    post(runtime, "earn", earn)
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 10
    assert ledger.donor_balances(runtime.db, other).points_available == 5
    assert ledger.verify(runtime.db).ok

    with runtime.db.read() as session:
        known = session.info[ledger_accounts.KNOWN]  # the process's, shared by its sessions
    assert {ref.donor_id for ref in known} == {None}  # the program's; each donor's was new
    post(runtime, "again", earn)  # read from the database once, then kept
    assert {ref.donor_id for ref in known} == {None, donor_id}
    statements: list[str] = []
    event.listen(runtime.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    post(runtime, "third", earn)
    assert not [s for s in statements if "FROM ledger_accounts" in s]
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 30


def test_a_kept_id_that_names_another_account_now_is_refused_and_forgotten(
    runtime, donor_id
) -> None:
    """A database restored from a backup under a running process: the account id it
    kept for one donor now names another donor's account. The posting is refused (503,
    nothing written) and the ids forgotten, so the retry reads them again."""
    other = ensure_donor(runtime.db, runtime.clock, "other-donor").id
    earn = issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 10)
    post(runtime, "earn", earn)
    post(runtime, "theirs", issue(other, AccountKind.POINTS_AVAILABLE, POINTS, 5))
    post(runtime, "read", earn)  # both donors' accounts read once, now kept
    post(runtime, "read-theirs", issue(other, AccountKind.POINTS_AVAILABLE, POINTS, 5))
    with runtime.db.read() as session:
        known = session.info[ledger_accounts.KNOWN]
    [mine] = [ref for ref in known if ref.donor_id == donor_id]
    [theirs] = [ref for ref in known if ref.donor_id == other]
    known[mine] = known[theirs]  # as a restore would reassign the id

    with pytest.raises(Unavailable):
        post(runtime, "after-restore", earn)
    assert known == {}
    assert ledger.donor_balances(runtime.db, other).points_available == 10  # untouched
    post(runtime, "after-restore", earn)  # the retry
    assert ledger.donor_balances(runtime.db, donor_id).points_available == 30
    assert ledger.verify(runtime.db).ok


def test_ledger_rows_cannot_be_changed_or_deleted(runtime, donor_id) -> None:
    post(runtime, "fixed", issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 5))
    for statement in (
        "UPDATE ledger_entries SET amount = 500",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transfers SET reason = 'rewritten'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), runtime.db.engine.begin() as conn:
            conn.execute(text(statement))


def test_verify_finds_a_tampered_balance_and_the_cli_fails(runtime, donor_id, cli_env) -> None:
    post(runtime, "a", issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 40))
    post(runtime, "b", issue(donor_id, AccountKind.CASH_PENDING, "USD", 200))
    assert ledger.verify(runtime.db).ok
    with runtime.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_accounts SET balance = balance + 1000 "
                "WHERE kind = 'points_available'"
            )
        )
    report = ledger.verify(runtime.db)
    assert not report.ok
    assert len(report.balance_mismatches) == 1
    assert "cached 1040, entries sum to 40" in report.balance_mismatches[0]

    result = CliRunner().invoke(cli, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "DIFFERENCES FOUND" in result.output


def test_verify_finds_an_unbalanced_transfer_and_a_wrong_counter(runtime, donor_id) -> None:
    add_campaign(runtime, id="c1", incident_types=["a"])
    post(runtime, "c", issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 7))
    with runtime.db.engine.begin() as conn:
        account = conn.execute(
            text("SELECT id FROM ledger_accounts WHERE donor_id IS NOT NULL")
        ).scalar()
        transfer = conn.execute(text("SELECT id FROM ledger_transfers")).scalar()
        conn.execute(
            text(
                "INSERT INTO ledger_entries (transfer_id, account_id, amount, created_at) "
                "VALUES (:t, :a, 3, '2025-01-01 00:00:00')"
            ),
            {"t": transfer, "a": account},
        )
        conn.execute(text("INSERT INTO campaign_counters VALUES ('c1', 'a', 3)"))
    report = ledger.verify(runtime.db)
    assert any("PTS legs sum to 3" in line for line in report.unbalanced_transfers)
    assert report.counter_mismatches == ["campaign c1 a: counter 3, accepted clips 0"]


def test_post_many_records_a_whole_payout_batch_at_once(runtime) -> None:
    """15,000 transfers (a full PayPal batch) in one call: more rows than one INSERT can
    carry parameters for on either database; a repeat records nothing."""
    from rewards_engine.db import allocate_ids
    from rewards_engine.models import Donor

    count = 15_000
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        ids = allocate_ids(uow.session, Donor.__table__, count)
        uow.session.execute(
            Donor.__table__.insert(),
            [{"id": i, "account_id": f"d{i}", "created_at": now, "updated_at": now} for i in ids],
        )
    specs = [
        ledger.TransferSpec(
            TransferKind.ADJUSTMENT,
            ("donor", i),
            f"bulk:{i}",
            issue(i, AccountKind.CASH_AVAILABLE, "USD", 100 + n),
        )
        for n, i in enumerate(ids)
    ]
    with runtime.db.transaction() as uow:
        recorded = ledger.post_many(uow.session, now=now, actor=SYSTEM, transfers=specs)
    with runtime.db.transaction() as uow:
        again = ledger.post_many(uow.session, now=now, actor=SYSTEM, transfers=specs)
    assert len(recorded) == count and again == {}
    assert ledger.donor_balances(runtime.db, ids[-1]).cash[0].available_cents == 100 + count - 1
    assert ledger.verify(runtime.db).ok


def test_the_donor_ledger_pages_across_all_their_accounts(runtime, donor_id) -> None:
    """A page is the newest entries of every account together, each shown once, pages
    joining without a gap: one account long quiet beside busy ones, a cursor from the
    middle, the last page, another donor's entries never (docs/capacity.md, R7: each
    account gives at most a page, and the page is the newest of those)."""
    other = ensure_donor(runtime.db, runtime.clock, "ledger-other").id
    post(runtime, "quiet", issue(donor_id, AccountKind.CASH_AVAILABLE, "EUR", 7))
    for n in range(9):
        post(runtime, f"earn{n}", issue(donor_id, AccountKind.POINTS_PENDING, POINTS, 10 + n))
        post(runtime, f"theirs{n}", issue(other, AccountKind.POINTS_PENDING, POINTS, 5))
        if n % 3 == 0:
            post(runtime, f"cash{n}", issue(donor_id, AccountKind.CASH_PENDING, "USD", 100 + n))
        if n % 2 == 0:
            legs = move(
                donor_id, AccountKind.POINTS_PENDING, AccountKind.POINTS_AVAILABLE, POINTS, 3
            )
            post(runtime, f"vest{n}", legs, kind=TransferKind.VESTING)
    with runtime.db.engine.connect() as connection:
        expected = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT e.id FROM ledger_entries e JOIN ledger_accounts a "
                    "ON a.id = e.account_id WHERE a.owner = :owner ORDER BY e.id DESC"
                ),
                {"owner": f"donor:{donor_id}"},
            )
        ]
    assert len(expected) == 1 + 9 + 3 + 2 * 5  # four accounts, the EUR one first and alone
    for limit in (1, 4, 7, len(expected), 100):
        seen, cursor, pages = [], None, 0
        while True:
            page = ledger.donor_entries(runtime.db, donor_id, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            seen += [entry.id for entry in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, limit
        assert pages == -(-len(expected) // limit)  # no empty page at the end
    first = ledger.donor_entries(runtime.db, donor_id, limit=5, cursor=None)
    rest = ledger.donor_entries(runtime.db, donor_id, limit=100, cursor=first.next_cursor)
    assert [e.id for e in rest.items] == expected[5:] and rest.next_cursor is None
    oldest = rest.items[-1]
    assert (oldest.account, oldest.currency, oldest.amount) == ("cash_available", "EUR", 7)
    assert {(e.account, e.kind) for e in first.items + rest.items} >= {
        ("points_pending", "adjustment"),
        ("points_available", "vesting"),
        ("cash_pending", "adjustment"),
    }
    with pytest.raises(InvalidInput):  # another list's cursor
        ledger.donor_entries(runtime.db, donor_id, limit=5, cursor=encode_cursor("clips", [1]))
    nobody = ensure_donor(runtime.db, runtime.clock, "ledger-nobody").id
    empty = ledger.donor_entries(runtime.db, nobody, limit=5, cursor=None)
    assert empty.items == [] and empty.next_cursor is None

"""Round trips are what a submission costs (docs/performance.md, issue 23): the statements
one call sends are counted, so a change that adds a read per clip, or reads back what it
just wrote, fails here rather than in a benchmark weeks later."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import event

from rewards_engine.runtime import Runtime
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program

# A 25-clip call to the program's first campaign (caps per camera and per event, targets
# whose counters are locked), with its idempotency key, granting a medal with a bonus:
# the token's donor, the transaction (key taken and answered, donor locked, campaign and
# consent read, caps locked and counted, hashes probed, batch, clips, the earning and the
# bonus through the ledger, wall tally and outbox, medals and their notification,
# counters, the wall's placements read before the commit in one statement). The drain
# after the commit sends nothing to the database (the wall-drain job marks its rows
# applied). 38 on both backends since then (42 on PostgreSQL and 43 on SQLite before);
# 37 once the process keeps ledger account ids (the bonus reuses what the earning read;
# the donor's next call reads none); 35 once the donor, the campaign and the consent
# version are read in one statement.
BUDGET = 35


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)


def test_a_submission_stays_within_its_statement_budget(
    runtime: Runtime, client: FlaskClient, auth
) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)
    consenting_donor(runtime, "budget-donor")
    headers = auth("budget-donor")
    client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=headers)  # accounts
    clips = [clip(camera_id=f"CAM-{n % 5}", event_id=f"ev-{n % 7}") for n in range(25)]
    with counting(runtime) as sent:
        answer = client.post(
            "/v1/submissions",
            json=body(BOUNTY, clips),
            headers={**headers, "Idempotency-Key": "budget-1"},
        )
    assert answer.status_code == 201, answer.get_json()
    # The token revocations' version is read once a process every 2 s, by whichever
    # request comes then (a slow machine can put the two calls 2 s apart): not this
    # call's cost.
    sent = [s for s in sent if "token_revocations" not in s]
    # Nothing is read once per clip: the clips go in one COPY on PostgreSQL (which the
    # engine's events do not see: counted here), one executemany on SQLite.
    inserts = sum("INSERT INTO clips" in s for s in sent)
    if runtime.db.is_postgres:
        assert inserts == 0
        sent.append("COPY clips")
    else:
        assert inserts == 1
    assert len(sent) <= BUDGET, "\n".join(sent)

"""Many donors at once, over real HTTP, against gunicorn with several workers.

Each scenario draws its interleaving from a seeded random generator: every run tries
a new one, and a failure prints the seed (rerun with ``CONCURRENCY_SEED=<seed>``).
Afterwards it checks what must hold whatever the interleaving: no 5xx, caps and
targets exact, every point and cent explained by the ledger (``rewards-engine ledger
verify`` and ``payouts report`` exit 0).
"""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.cli import cli
from rewards_engine.models import (
    CampaignCounter,
    Clip,
    MedalAward,
    MedalDefinition,
    PayoutBatch,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, payouts
from tests.conftest import make_token
from tests.support.factories import PROGRAM, add_campaign, body, clip
from tests.support.fake_providers import FakePayPal
from tests.support.processes import api_nodes, serving

WORKERS = 4
GIFT = "gift-card-amazon-10-usd"  # 1,000 points; 5 demo codes


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("CONCURRENCY_SEED") or random.randrange(2**32))
    # Shown with the test's output when it fails.
    print(f"{request.node.name}: seed {seed} (rerun with CONCURRENCY_SEED={seed})")
    return random.Random(seed)


@pytest.fixture
def node(cli_env) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with api_nodes(1, workers=WORKERS) as [base]:
        yield base


class Client:
    """A donor's or an agent's app: every write carries an Idempotency-Key and is
    sent again with the same key when the answer is lost (never on a 4xx)."""

    def __init__(self, base: str, settings: Any, subject: str, role: str = "donor") -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {make_token(settings, subject, role)}"}
        self.session = requests.Session()
        self.statuses: list[int] = []

    def post(self, path: str, payload: dict[str, Any]) -> requests.Response:
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        answer = self.session.post(f"{self.base}{path}", json=payload, headers=headers, timeout=120)
        self.statuses.append(answer.status_code)
        return answer

    def send(self, method: str, path: str, payload: dict[str, Any]) -> requests.Response:
        answer = self.session.request(
            method, f"{self.base}{path}", json=payload, headers=self.headers, timeout=120
        )
        self.statuses.append(answer.status_code)
        return answer


def all_at_once(actions: list[Callable[[], None]]) -> None:
    """Run every action in a thread of its own, released together."""
    start = threading.Barrier(len(actions))
    failures: list[BaseException] = []

    def run(action: Callable[[], None]) -> None:
        start.wait()
        try:
            action()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    if failures:
        raise failures[0]


def random_clips(
    rng: random.Random, count: int, kinds: list[str], cameras: list[str], viral: list[str]
) -> list[dict[str, Any]]:
    """Clips of every incident type, from cameras other donors film with too, some of
    them a video another donor sends as well."""
    return [
        clip(
            recorded_at=_recent(rng),
            incident_type=rng.choice(kinds),
            camera_id=rng.choice(cameras),
            event_id=f"ev-{rng.randrange(4)}",
            **({"video_sha256": rng.choice(viral)} if viral and rng.random() < 0.1 else {}),
        )
        for _ in range(count)
    ]


def _recent(rng: random.Random) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=rng.randrange(10, 600))


def check_books(runtime: Runtime) -> None:
    assert ledger.verify(runtime.db).ok
    verify = CliRunner().invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0, verify.output
    report = CliRunner().invoke(cli, ["payouts", "report"])
    assert report.exit_code == 0, report.output


def program_kinds(runtime: Runtime) -> list[str]:
    from rewards_engine.models import Campaign

    with runtime.db.read() as session:
        program = session.get(Campaign, PROGRAM)
        assert program is not None
        return list(program.incident_types)


def test_donors_donating_at_once_get_no_5xx_and_every_shared_cap_is_exact(
    node: str, live: Runtime, cli_env: Any, rng: random.Random
) -> None:
    kinds = program_kinds(live)
    cap, target = 2, 12
    campaign = add_campaign(
        live,
        starts_at=live.clock.now() - timedelta(days=2),
        incident_types=kinds,
        cap_per_camera_per_incident_type=cap,
        targets=dict.fromkeys(kinds, target),
        stop_at_target=True,
        cap_paid_per_event=3,
        points_per_clip=10,
        bounty_cents=25,
        currency="USD",
    ).id
    cameras = [f"CAM-SHARED-{n}" for n in range(5)]
    viral = [f"{n:064x}" for n in range(1, 11)]
    donors = [Client(node, cli_env, f"donor-{n}") for n in range(8)]
    for donor in donors:
        assert donor.post("/v1/me/consent", {"version": "2024-12-01"}).status_code == 200

    def donate(donor: Client, seed: int) -> Callable[[], None]:
        mine = random.Random(seed)

        def run() -> None:
            for _ in range(4):
                clips = random_clips(mine, mine.randrange(3, 13), kinds, cameras, viral)
                answer = donor.post("/v1/submissions", body(campaign, clips))
                assert answer.status_code == 201, answer.text

        return run

    all_at_once([donate(d, rng.randrange(2**32)) for d in donors])

    statuses = Counter(s for d in donors for s in d.statuses)
    assert not [s for s in statuses if s >= 500], statuses
    with live.db.read() as session:
        clips = list(session.scalars(select(Clip).where(Clip.campaign_id == campaign)))
        counters = {
            c.incident_type: c.accepted
            for c in session.scalars(
                select(CampaignCounter).where(CampaignCounter.campaign_id == campaign)
            )
        }
    paid_per_camera = Counter(
        (c.camera_id, c.incident_type) for c in clips if c.status in ("accepted", "pending_review")
    )
    accepted_per_type = Counter(c.incident_type for c in clips if c.status == "accepted")
    reasons = Counter(c.reason for c in clips)
    assert max(paid_per_camera.values()) <= cap
    assert max(accepted_per_type.values()) <= target
    # Exact, not merely under: a clip refused for a cap or a target found it full.
    for refused in clips:
        if refused.reason == "camera_cap_reached":
            assert paid_per_camera[(refused.camera_id, refused.incident_type)] == cap
        if refused.reason == "target_reached":
            assert accepted_per_type[refused.incident_type] == target
    assert reasons["camera_cap_reached"] > 0  # the scenario did reach the caps
    assert {k: v for k, v in counters.items() if v} == dict(accepted_per_type)
    holders = Counter(c.video_sha256 for c in clips if c.status != "duplicate")
    assert max(holders.values()) == 1  # each video paid once, whoever sent it
    per_event = Counter(
        (c.donor_id, c.event_id) for c in clips if c.status in ("accepted", "pending_review")
    )
    assert max(per_event.values()) <= 3
    earned: dict[int, int] = defaultdict(int)
    for c in clips:
        if c.status == "accepted":
            earned[c.donor_id] += c.points
    with live.db.read() as session:
        for donor_id, bonus in session.execute(
            select(MedalAward.donor_id, func.sum(MedalDefinition.bonus_points))
            .join(
                MedalDefinition,
                (MedalDefinition.code == MedalAward.code)
                & (MedalDefinition.version == MedalAward.version),
            )
            .group_by(MedalAward.donor_id)
        ):
            earned[donor_id] += bonus
    for donor_id, points in earned.items():
        balances = ledger.donor_balances(live.db, donor_id)
        # Clips and medal bonuses alike wait out the review window.
        assert (balances.points_pending, balances.points_available) == (points, 0)
    check_books(live)


def test_a_mixed_day_with_payouts_through_a_faulty_paypal_keeps_the_books(
    node: str, live: Runtime, cli_env: Any, rng: random.Random
) -> None:
    """Donations, gift-card redemptions, support adjustments and reversals over HTTP
    while two payout jobs send and reconcile batches through a PayPal that fails,
    hangs and answers late."""
    kinds = program_kinds(live)
    campaign = add_campaign(
        live,
        starts_at=live.clock.now() - timedelta(days=2),
        incident_types=kinds,
        cap_per_camera_per_incident_type=3,
        points_per_clip=50,
        bounty_cents=200,
        currency="USD",
        review_window_days=0,
    ).id
    fake = FakePayPal()
    with serving(fake) as url:
        fake.url = url
        settings = replace(
            cli_env,
            payout_cooling_off_hours=0,
            paypal=fake.client_settings(),
        )
        jobs = build_runtime(settings)
        try:
            _mixed_day(node, live, jobs, cli_env, rng, campaign, kinds, fake)
        finally:
            jobs.close()
    check_books(live)


def _mixed_day(
    node: str,
    live: Runtime,
    jobs: Runtime,
    cli_env: Any,
    rng: random.Random,
    campaign: str,
    kinds: list[str],
    fake: FakePayPal,
) -> None:
    from rewards_engine.services import vesting

    donors = [Client(node, cli_env, f"mixed-{n}") for n in range(6)]
    agent = Client(node, cli_env, "agent", "support")
    for n, donor in enumerate(donors):
        assert donor.post("/v1/me/consent", {"version": "2024-12-01"}).status_code == 200
        payout = {"kind": "paypal_email", "value": f"mixed-{n}@example.com"}
        assert donor.send("PATCH", "/v1/me", {"payout": payout}).status_code == 200
    ids = {d: d.send("GET", "/v1/me", {}).json()["id"] for d in donors}
    cameras = [f"CAM-MIX-{n}" for n in range(4)]
    # A first round, vested, so that there is cash to pay out and clips to reverse.
    for donor in donors:
        clips = random_clips(rng, 6, kinds, cameras, [])
        assert donor.post("/v1/submissions", body(campaign, clips)).status_code == 201
    vesting.vest_due(live.db, live.clock)
    for donor in donors:
        answer = agent.post(
            f"/v1/admin/donors/{ids[donor]}/adjustments",
            {"asset": "points", "amount": 1_000, "reason": "welcome gift"},
        )
        assert answer.status_code == 201, answer.text
    with live.db.read() as session:
        accepted = list(
            session.scalars(
                select(Clip.id).where(Clip.campaign_id == campaign, Clip.status == "accepted")
            )
        )
    to_reverse = rng.sample(accepted, k=min(6, len(accepted)))
    fake.fail_next = [500]  # the first send meets a server error
    fake.hang_next = 1  # and a later one is applied but answered too late

    def donate(donor: Client, seed: int) -> Callable[[], None]:
        mine = random.Random(seed)

        def run() -> None:
            for _ in range(3):
                if mine.random() < 0.3:
                    answer = donor.post("/v1/redemptions", {"reward_id": GIFT})
                    assert answer.status_code in (201, 409), answer.text
                clips = random_clips(mine, mine.randrange(2, 9), kinds, cameras, [])
                answer = donor.post("/v1/submissions", body(campaign, clips))
                assert answer.status_code == 201, answer.text

        return run

    def support_work() -> None:
        for clip_id in to_reverse:
            answer = agent.post(
                f"/v1/admin/submissions/{clip_id}/reverse", {"reason": "filmed twice"}
            )
            assert answer.status_code in (200, 201, 409), answer.text
            donor_id = ids[rng.choice(donors)]
            answer = agent.post(
                f"/v1/admin/donors/{donor_id}/adjustments",
                {"asset": "cash", "currency": "USD", "amount": 150, "reason": "goodwill"},
            )
            assert answer.status_code == 201, answer.text

    def batch_job() -> None:
        payouts.create_batches(jobs)
        payouts.submit_pending(jobs)

    def reconcile_job() -> None:
        for _ in range(3):
            payouts.reconcile(jobs)

    seeds = [rng.randrange(2**32) for _ in donors]
    all_at_once(
        [donate(d, s) for d, s in zip(donors, seeds, strict=True)]
        + [support_work, batch_job, reconcile_job]
    )
    for _ in range(4):  # the faults cleared: every batch settles
        payouts.reconcile(jobs)
    statuses = Counter(s for c in [*donors, agent] for s in c.statuses)
    assert not [s for s in statuses if s >= 500], statuses
    with live.db.read() as session:
        states = Counter(session.scalars(select(PayoutBatch.status)))
    assert set(states) <= {"completed"}, states
    received: Counter[str] = Counter()
    for batch in fake.batches.values():
        for item in batch["items"]:
            received[item["payout_item"]["receiver"]] += 1
    assert received and max(received.values()) == 1  # nobody paid twice

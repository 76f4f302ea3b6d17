"""A program with a Tremendous gift card, the local Tremendous server, and the checks
every provider scenario ends with: points debited once, refunded at most once, and
``rewards-engine ledger verify`` exiting 0."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import Clock
from rewards_engine.config import Settings
from rewards_engine.domain.actors import Actor
from rewards_engine.models import GiftCardOrder, LedgerTransfer, RewardItem
from rewards_engine.runtime import Runtime
from rewards_engine.services import gift_card_products, support
from tests.support.factories import consenting_donor, load_program
from tests.support.processes import serving
from tests.support.tremendous_server import FakeTremendous

CARD = "tremendous-amazon-25-usd"  # product AMZN-US of the local server: US, USD
COST = 2500
SEED = Actor.system("test-seed")


@dataclass
class World:
    runtime: Runtime
    fake: FakeTremendous
    client: FlaskClient
    secret: str


def tremendous_card(
    item_id: str,
    name: str,
    point_cost: int,
    denomination_cents: int,
    *,
    currency: str = "USD",
    sku: str = "AMZN-US",
    brand: str = "Amazon",
) -> RewardItem:
    """A gift card ordered from Tremendous on redemption: its product is ``sku``."""
    return RewardItem(
        id=item_id,
        kind="gift_card",
        name=name,
        point_cost=point_cost,
        brand=brand,
        denomination_cents=denomination_cents,
        currency=currency,
        sku=sku,
        provider="tremendous",
    )


@contextmanager
def tremendous_world(
    settings: Settings, clock: Clock, *, webhook_secret: str | None = "tremendous-webhook-secret"
) -> Iterator[World]:
    """The local Tremendous server, a runtime configured for it (with ``webhook_secret``)
    and the card on offer, its products synced."""
    from tests.conftest import app_for

    fake = FakeTremendous()
    with serving(fake) as url:
        fake.url = url
        tremendous = replace(fake.client_settings(timeout_s=2.0), webhook_secret=webhook_secret)
        runtime = build_runtime(replace(settings, tremendous=tremendous), clock=clock)
        try:
            load_program(runtime)
            with runtime.db.transaction() as uow:
                uow.session.add(tremendous_card(CARD, "Amazon.com $25", COST, 2500))
            gift_card_products.sync_from_provider(runtime)
            yield World(runtime, fake, app_for(runtime).test_client(), webhook_secret or "")
        finally:
            runtime.close()


def funded_donor(world: World, name: str, points: int = 10_000) -> int:
    donor_id = consenting_donor(world.runtime, name)
    support.adjust(world.runtime.db, world.runtime.clock, SEED, donor_id,
                   asset="points", amount=points, reason="test funds")  # fmt: skip
    return donor_id


def redeem(world: World, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    answer = world.client.post(
        "/v1/redemptions", json={"reward_id": CARD, "country": "US", **extra}, headers=headers
    )
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def order_of(world: World, redemption_id: int) -> GiftCardOrder:
    with world.runtime.db.read() as session:
        order = session.get(GiftCardOrder, redemption_id)
        assert order is not None
        session.expunge(order)
        return order


def transfers(world: World, redemption_id: int, kind: str) -> int:
    with world.runtime.db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LedgerTransfer)
                .where(
                    LedgerTransfer.reference_type == "redemption",
                    LedgerTransfer.reference_id == str(redemption_id),
                    LedgerTransfer.kind == kind,
                )
            )
            or 0
        )


def assert_money_sound(world: World, redemption_id: int, *, refunded: bool) -> None:
    """Points debited once, refunded once if ``refunded`` (else never), and the ledger
    verifies (the CLI, in-process, on the test's database: needs the ``cli_env``
    fixture)."""
    from rewards_engine.cli import cli

    assert transfers(world, redemption_id, "redemption") == 1
    assert transfers(world, redemption_id, "refund") == (1 if refunded else 0)
    verify = CliRunner().invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0, verify.output

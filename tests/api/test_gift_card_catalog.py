"""Provider gift cards in the catalog: Tremendous's products synced with their countries
and currencies, and the catalog offering each card only where its product serves the
donor's country and currency, and redeem refusing a card they rule out (issue 25,
part 4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.cli import cli
from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings, TremendousSettings
from rewards_engine.models import GiftCardProduct
from rewards_engine.runtime import Runtime
from rewards_engine.services import gift_card_products
from tests.conftest import app_for
from tests.support.factories import load_program
from tests.support.gift_card_world import (
    CARD,
    World,
    funded_donor,
    tremendous_card,
    tremendous_world,
)
from tests.support.processes import serving
from tests.support.tremendous_catalog import TremendousProducts, product

AMAZON = "tremendous-amazon-25-usd"  # product AMZ: US and CA, USD
FNAC = "tremendous-fnac-20-eur"  # product FNAC: FR, EUR
INVENTORY_GIFT = "gift-card-amazon-10-usd"  # uploaded codes, USD (fixtures/catalog.toml)


@pytest.fixture
def provider() -> Iterator[tuple[TremendousProducts, str]]:
    fake = TremendousProducts(
        products=[product("AMZ", ["US", "CA"], ["USD"]), product("FNAC", ["FR"], ["EUR"])]
    )
    with serving(fake) as url:
        yield fake, url


def configured(settings: Settings, url: str) -> Settings:
    return replace(
        settings,
        tremendous=TremendousSettings(
            api_key="tremendous-test-key",
            base_url=f"{url}/api/v2",
            funding_source_id="balance",
            webhook_secret="whsec-test",
            timeout_s=5,
        ),
    )


@pytest.fixture
def tremendous(
    settings: Settings, clock: FixedClock, provider: tuple[TremendousProducts, str]
) -> Iterator[Runtime]:
    runtime = build_runtime(configured(settings, provider[1]), clock=clock)
    load_program(runtime)
    with runtime.db.transaction() as uow:
        cards = ((AMAZON, "AMZ", 2500, "USD"), (FNAC, "FNAC", 2000, "EUR"))
        for item_id, sku, cents, currency in cards:
            uow.session.add(
                tremendous_card(
                    item_id,
                    item_id,
                    2500,
                    cents,
                    currency=currency,
                    sku=sku,
                    brand=item_id.split("-")[1],
                )
            )
    yield runtime
    runtime.close()


def offered(client: FlaskClient, query: str = "") -> set[str]:
    answer = client.get(f"/v1/rewards{query}")
    assert answer.status_code == 200, answer.get_json()
    return {item["id"] for item in answer.get_json()}


def stored(runtime: Runtime) -> dict[str, tuple[list[str], list[str]]]:
    with runtime.db.read() as session:
        return {
            row.product_id: (row.countries, row.currencies)
            for row in session.scalars(select(GiftCardProduct))
        }


def test_the_sync_stores_each_products_countries_and_currencies_and_drops_the_unlisted(
    tremendous: Runtime, provider: tuple[TremendousProducts, str]
) -> None:
    fake, _ = provider
    first = gift_card_products.sync_from_provider(tremendous)
    assert first == {"listed": 2, "added": 2, "updated": 0, "removed": 0}
    assert stored(tremendous) == {"AMZ": (["CA", "US"], ["USD"]), "FNAC": (["FR"], ["EUR"])}

    fake.products = [product("AMZ", ["US"], ["USD", "CAD"])]  # FNAC withdrawn, AMZ changed
    second = gift_card_products.sync_from_provider(tremendous)
    assert second == {"listed": 1, "added": 0, "updated": 1, "removed": 1}
    assert stored(tremendous) == {"AMZ": (["US"], ["CAD", "USD"])}
    assert gift_card_products.sync_from_provider(tremendous)["updated"] == 0  # nothing new


def test_a_provider_outage_keeps_the_stored_products(
    tremendous: Runtime, provider: tuple[TremendousProducts, str]
) -> None:
    fake, _ = provider
    gift_card_products.sync_from_provider(tremendous)
    fake.fail_with = 503
    result = gift_card_products.sync_from_provider(tremendous)
    assert result == {"error": "HTTP 503 asking for the products"}
    assert set(stored(tremendous)) == {"AMZ", "FNAC"}


def test_the_catalog_offers_a_provider_card_only_in_its_products_countries_and_currencies(
    tremendous: Runtime,
) -> None:
    client = app_for(tremendous).test_client()
    assert not {AMAZON, FNAC} & offered(client)  # not synced yet: not offered
    gift_card_products.sync_from_provider(tremendous)

    assert {AMAZON, FNAC, INVENTORY_GIFT} <= offered(client)  # no country given: all
    on_demand = {i["id"]: i["ordered_on_demand"] for i in client.get("/v1/rewards").get_json()}
    assert on_demand[AMAZON] and not on_demand[INVENTORY_GIFT]
    assert AMAZON in offered(client, "?country=US") and FNAC not in offered(client, "?country=US")
    assert FNAC in offered(client, "?country=FR") and AMAZON not in offered(client, "?country=FR")
    in_euros = offered(client, "?currency=EUR")
    assert FNAC in in_euros and AMAZON not in in_euros and INVENTORY_GIFT not in in_euros
    assert "camera-outdoor-s2" in in_euros  # cameras are not gift cards in a currency
    assert offered(client, "?country=CA&currency=USD") >= {AMAZON, INVENTORY_GIFT}


def test_the_catalog_names_a_malformed_country_or_currency(tremendous: Runtime) -> None:
    client = app_for(tremendous).test_client()
    for query, field in (("?country=usa", "country"), ("?currency=euro", "currency")):
        answer = client.get(f"/v1/rewards{query}")
        assert answer.status_code == 422
        assert field in answer.get_json()["errors"]["query"]


def test_without_tremendous_configured_its_cards_are_not_offered(
    tremendous: Runtime, settings: Settings, clock: FixedClock
) -> None:
    gift_card_products.sync_from_provider(tremendous)
    plain = build_runtime(settings, clock=clock)  # same database, no TREMENDOUS_* set
    try:
        catalog = offered(app_for(plain).test_client())
        assert INVENTORY_GIFT in catalog and not {AMAZON, FNAC} & catalog
        assert gift_card_products.sync_from_provider(plain) == {
            "skipped": "Tremendous is not configured"
        }
    finally:
        plain.close()


@pytest.fixture
def world(settings: Settings, clock: FixedClock, cli_env: Settings) -> Iterator[World]:
    with tremendous_world(settings, clock) as made:
        yield made


def refused_before_any_point_moved(world: World, ada: dict[str, str]) -> None:
    assert world.client.get("/v1/redemptions", headers=ada).get_json()["items"] == []
    me = world.client.get("/v1/me", headers=ada).get_json()
    assert me["balances"]["points"]["available"] == 10_000
    assert ("POST", "/api/v2/orders") not in world.fake.calls  # nothing ordered
    verify = CliRunner().invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0, verify.output


def refused_as_not_offered(world: World, ada: dict[str, str]) -> None:
    """The card is off the catalog and redeeming it names ``reward_id``."""
    assert CARD not in offered(world.client, "?country=US")
    answer = world.client.post(
        "/v1/redemptions", json={"reward_id": CARD, "country": "US"}, headers=ada
    )
    assert answer.status_code == 422 and "reward_id" in answer.get_json()["errors"]["json"]
    refused_before_any_point_moved(world, ada)


def test_redeem_refuses_a_country_the_cards_product_does_not_serve(world: World, auth) -> None:
    funded_donor(world, "ada")
    ada = auth("ada")
    answer = world.client.post(
        "/v1/redemptions", json={"reward_id": CARD, "country": "FR"}, headers=ada
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "country_not_served"
    assert "country" in answer.get_json()["errors"]["json"]
    malformed = world.client.post(
        "/v1/redemptions", json={"reward_id": CARD, "country": "France"}, headers=ada
    )
    assert malformed.status_code == 422 and "country" in malformed.get_json()["errors"]["json"]
    refused_before_any_point_moved(world, ada)


def test_redeem_of_a_provider_card_requires_the_country(world: World, auth) -> None:
    """The engine keeps no country for a donor: without one in the request, a card
    could be ordered for a country its product is not sent to."""
    funded_donor(world, "ada")
    ada = auth("ada")
    answer = world.client.post("/v1/redemptions", json={"reward_id": CARD}, headers=ada)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"] == "country_required"
    assert "country" in answer.get_json()["errors"]["json"]
    refused_before_any_point_moved(world, ada)


def test_redeem_refuses_a_card_whose_product_was_never_synced(world: World, auth) -> None:
    """Before the first sync the country cannot be checked: the card is not offered,
    as the catalog does not show it."""
    funded_donor(world, "ada")
    ada = auth("ada")
    with world.runtime.db.transaction() as uow:
        uow.session.execute(delete(GiftCardProduct))
    refused_as_not_offered(world, ada)


def test_redeem_refuses_a_card_whose_product_the_provider_stopped_listing(
    world: World, auth
) -> None:
    funded_donor(world, "ada")
    ada = auth("ada")
    world.fake.unavailable = {"AMZN-US"}
    assert gift_card_products.sync_from_provider(world.runtime)["removed"] == 1
    refused_as_not_offered(world, ada)


def test_the_daily_job_syncs_the_products(
    cli_env: Settings,
    runtime: Runtime,
    provider: tuple[TremendousProducts, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "TREMENDOUS_API_KEY": "tremendous-test-key",
        "TREMENDOUS_BASE_URL": f"{provider[1]}/api/v2",
        "TREMENDOUS_FUNDING_SOURCE_ID": "balance",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["jobs", "run", "gift-card-products", "--no-lock"])
    assert result.exit_code == 0, result.output
    assert "listed=2, added=2, updated=0, removed=0" in result.stdout
    assert set(stored(runtime)) == {"AMZ", "FNAC"}

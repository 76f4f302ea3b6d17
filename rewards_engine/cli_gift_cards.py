"""``rewards-engine gift-cards ...``: an operator's hands on provider gift-card orders.

``retry-order`` re-arms an order left ``ordering`` past its attempts
(services/gift_card_retry.py): audited with the operator named ``cli:<user>`` (``--by``
overrides it), looked up by the external id stored with it, and ordered again only
under that same external id. It replaces editing ``gift_card_orders`` by hand
(docs/operations.md, "Stuck gift-card orders").
"""

from __future__ import annotations

import getpass

import click

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import DomainError


@click.group("gift-cards")
def gift_cards_group() -> None:
    """Gift cards ordered from a provider (Tremendous)."""


@gift_cards_group.command("retry-order")
@click.argument("redemption_id", type=int)
@click.option("--reason", required=True, help="Why it is tried again (audited).")
@click.option("--by", "by", default=None, help="Who, for the audit log (default cli:<user>).")
def retry_order_command(redemption_id: int, reason: str, by: str | None) -> None:
    """Look the stuck order of REDEMPTION_ID up and, if the provider has none, order it
    again with the same external id (never a new one). Exits 1 if the provider did not
    answer (the gift-card-orders job then tries again)."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import gift_card_retry

    runtime = command_runtime(needs=("encryption",))
    operator = Actor(id=(by or f"cli:{getpass.getuser()}")[:128], role="operator")
    try:
        outcome = gift_card_retry.retry_order(runtime, operator, redemption_id, reason)
    except DomainError as exc:
        raise click.ClickException(f"{exc.field or exc.code}: {exc.message}") from exc
    if outcome.found:
        said = "found at the provider, recorded"
    elif outcome.ordered:
        said = "not found at the provider, ordered again under the same external id"
    else:
        said = "the provider did not answer the look-up"
    click.echo(
        f"redemption {redemption_id} (external id {outcome.external_id}): {said}; "
        f"now {outcome.status}" + (f"; last error: {outcome.error}" if outcome.error else "")
    )
    if outcome.error and outcome.status == "ordering":
        raise click.ClickException("no answer to trust yet: the gift-card-orders job tries again")

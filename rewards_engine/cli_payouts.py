"""``rewards-engine payouts ...``: the reconciliation and tax reports of cash payouts
(docs/payouts.md)."""

from __future__ import annotations

import sys

import click


@click.group("payouts")
def payouts_group() -> None:
    """Cash payouts."""


@payouts_group.command("report")
@click.option("--batch", "batch_id", type=int, default=None)
def payouts_report(batch_id: int | None) -> None:
    """Per batch: the provider's paid total against the ledger's and the items'."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import payouts

    lines = payouts.reconciliation_report(command_runtime(), batch_id)
    for line in lines:
        provider = "-" if line.provider_paid_cents is None else line.provider_paid_cents
        click.echo(
            f"batch {line.batch_id:>6} {line.provider:7} provider {provider:>12} "
            f"ledger {line.ledger_paid_cents:>12} items {line.items_paid_cents:>12} "
            + ("; ".join(line.differences) or "ok")
        )
    if any(line.differences for line in lines):
        sys.exit(1)


@payouts_group.command("tax-report")
@click.option("--year", type=int, required=True)
@click.option(
    "--threshold-cents",
    type=int,
    default=None,
    help="Default: US 1099 ($600 through 2025, $2,000 from 2026).",
)
def payouts_tax_report(year: int, threshold_cents: int | None) -> None:
    """Payees whose payouts settled in YEAR reach the reporting threshold (CSV)."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import payouts

    lines = payouts.tax_report(command_runtime().db, year, threshold_cents)
    click.echo("donor_id,account_id,currency,paid")
    for line in lines:
        click.echo(
            f"{line.donor_id},{line.account_id or ''},{line.currency},{line.paid_cents / 100:.2f}"
        )

"""The figures block of docs/rewards.md: gift-card redemptions per second through the
provider path (Tremendous, its local server) beside the inventory path."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, num, table
from benchmarks.report.performance import redemption_rows


@block("gift_card_orders")
def gift_card_orders(result: Result) -> list[str]:
    paths = {
        "inventory (codes uploaded, one transaction)": result["inventory_path"],
        "provider (two transactions and an order call)": result["provider_path"],
    }
    rows = redemption_rows(paths)
    return [
        f"{result['clients']} clients, gunicorn {result['gunicorn_workers']} workers, "
        f"PostgreSQL; the same run, one path after the other; load average "
        f"{num(result['load_average_1m'], 1)} at the end (the machine is shared).",
        "",
        *table(["gift card", "redemptions", "seconds", "per second", "errors"], rows, "lrrrr"),
        "",
        f"Provider over inventory: {num(result['provider_to_inventory'], 2)}{TIMES}. "
        f"{num(result['provider_delivered'])} of the run's "
        f"{num(result['provider_redemptions'])} provider redemptions (warm-up included) "
        "ended delivered.",
    ]

"""Cash payouts: batches built and committed before any provider call, submitted,
reconciled until every item is final, every cent explained by the ledger.

1. ``create_batches`` gathers donors whose available cash reaches the minimum (not on
   hold, with a destination older than the cooling-off period, not yet paid for this
   earning period), moves each amount from available to in flight, and commits the
   batches and items with ids derived from ours (PayPal ``sender_batch_id`` and
   ``sender_item_id``, Stripe idempotency keys).
2. ``submit_pending`` sends batches that were never sent, or whose outcome is unknown
   (a timeout, a 5xx, a crash), with the same ids: the provider recognises a repeat.
3. ``reconcile`` polls submitted batches; webhooks report the same outcomes sooner.
   Each outcome moves the item's money once: in flight to paid, or back to available.

One module per part, each importing only the ones above it in this list:

- ``destinations``: the rail a destination or batch takes, destinations, a batch as a
  provider sees it;
- ``outcomes``: a provider's answer recorded, each item's money moved once;
- ``batches``: step 1;
- ``sending``: steps 2 and 3, with the sender's lease on a batch;
- ``webhooks``: the providers' events;
- ``reports``: reading batches and items, the reconciliation and tax reports;
- ``staff``: manual batches and the tools of the people who look after payouts.

This module re-exports what the rest of the code calls, as ``payouts.<name>``.
"""

from rewards_engine.services.payouts.batches import BatchReport, create_batches, staff_batches
from rewards_engine.services.payouts.destinations import (
    SYSTEM,
    prepare_destination,
    provider_name,
)
from rewards_engine.services.payouts.outcomes import apply_outcomes
from rewards_engine.services.payouts.reports import (
    BatchReconciliation,
    BatchView,
    ItemView,
    TaxLine,
    batch_items,
    donor_payouts,
    get_batch,
    list_batches,
    reconciliation_report,
    tax_report,
)
from rewards_engine.services.payouts.sending import RunReport, reconcile, submit_pending
from rewards_engine.services.payouts.staff import (
    attach_provider_batch,
    cancel_unclaimed,
    export_csv,
    resend_batch,
    settle_manual,
)
from rewards_engine.services.payouts.webhooks import WebhookResult, paypal_webhook, stripe_webhook

__all__ = [
    "SYSTEM",
    "BatchReconciliation",
    "BatchReport",
    "BatchView",
    "ItemView",
    "RunReport",
    "TaxLine",
    "WebhookResult",
    "apply_outcomes",
    "attach_provider_batch",
    "batch_items",
    "cancel_unclaimed",
    "create_batches",
    "donor_payouts",
    "export_csv",
    "get_batch",
    "list_batches",
    "paypal_webhook",
    "prepare_destination",
    "provider_name",
    "reconcile",
    "reconciliation_report",
    "resend_batch",
    "settle_manual",
    "staff_batches",
    "stripe_webhook",
    "submit_pending",
    "tax_report",
]

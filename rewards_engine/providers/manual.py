"""Payouts made by hand: the batch is exported as CSV and staff mark each item paid or
failed. The default when no provider credentials are configured."""

from __future__ import annotations

from rewards_engine.providers.payouts import OutgoingBatch, Submitted


class ManualProvider:
    name = "manual"
    max_items = 100_000

    def submit(self, batch: OutgoingBatch) -> Submitted:
        return Submitted(batch.sender_batch_id)  # waits for staff: export, pay, mark

    def poll(self, batch: OutgoingBatch) -> Submitted:
        return Submitted(batch.sender_batch_id)

"""The ranges of the database's ids: a number outside them names nothing that exists."""

INT32_MAX = 2**31 - 1  # donors, fraud flags, payout batches, medal notifications ...
INT64_MAX = 2**63 - 1  # clips, redemptions, payout items, ledger entries (big_id)

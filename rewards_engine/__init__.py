"""Rewards, ledger and Honor Wall engine of the video donation program."""

"""``rewards-engine audit ...``: verifying the audit log's hash chain and exporting it for
auditors (docs/operations.md, the audit chain)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from rewards_engine.progress import progress


@click.group("audit")
def audit_group() -> None:
    """Check and export the tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--anchor",
    default=None,
    metavar="SEQ:HASH",
    help="A head an earlier verification reported: fail if that record is gone or changed.",
)
def audit_verify(anchor: str | None) -> None:
    """Walk the audit log's hash chain; exit 1 naming the first broken record."""
    from rewards_engine.services.audit import chain

    head: tuple[int, str] | None = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise click.BadParameter("SEQ:HASH, e.g. 1234:<64 hex digits>", param_hint="--anchor")
        head = (int(seq), digest)
    from rewards_engine.cli import command_runtime

    runtime = command_runtime()
    with progress("verifying the audit chain") as bar:
        walk = chain.verify(runtime.db, anchor=head, on_progress=bar.report)
    if not walk.ok:
        where = f"record {walk.broken_id}" if walk.broken_id is not None else "the log's end"
        click.echo(f"BROKEN at {where}: {walk.problem} ({walk.records} records verified before)")
        sys.exit(1)
    click.echo(
        f"verified {walk.records} records ({walk.erased_values} values erased): intact; "
        f"head {walk.head_seq}:{walk.head_hash}"
    )


@audit_group.command("export")
@click.option("--since", default=None, help="From this ISO 8601 time (inclusive).")
@click.option("--until", default=None, help="To this ISO 8601 time (exclusive).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True))
def audit_export(since: str | None, until: str | None, out_path: str) -> None:
    """Write the audit records as JSON lines for auditors (docs/operations.md)."""
    from rewards_engine.services.audit import chain

    bounds = [_utc_option(name, value) for name, value in (("--since", since), ("--until", until))]
    from rewards_engine.cli import command_runtime

    runtime = command_runtime()
    with open(out_path, "w", encoding="utf-8") as out, progress("exporting") as bar:
        written = chain.export(
            runtime.db, out, since=bounds[0], until=bounds[1], on_progress=bar.report
        )
    click.echo(f"wrote {written} audit records to {out_path}")


def _utc_option(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("an ISO 8601 date or time", param_hint=name) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

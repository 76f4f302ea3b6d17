"""``rewards-engine tokens ...``: revoke bearer tokens before their ``exp``, and list
the revocations in force (docs/security.md, T2). Each revocation is audited, with the
operator named ``cli:<user>`` (``--by`` overrides it).

A running API process applies a revocation made here within
``RevocationCache.REFRESH_S`` seconds (it re-reads the table's version that often).
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import DomainError


def _operator(name: str | None) -> Actor:
    who = name or f"cli:{getpass.getuser()}"
    return Actor(id=who[:128], role="operator")


@click.group("tokens")
def tokens_group() -> None:
    """Revoke bearer tokens (by jti, or every token of a subject) and list revocations."""


@tokens_group.command("revoke")
@click.option("--jti", default=None, help="The token's jti claim: revoke that one token.")
@click.option(
    "--subject", default=None, help="Alone: void every token of this subject issued until now."
)
@click.option("--expires", default=None, help="With --jti: the token's exp (ISO 8601 or epoch).")
@click.option("--reason", required=True, help="Why (3 to 500 characters; audited).")
@click.option(
    "--by", "by", default=None, help="Who revokes, for the audit log (default cli:<user>)."
)
def tokens_revoke(
    jti: str | None, subject: str | None, expires: str | None, reason: str, by: str | None
) -> None:
    """Revoke one token (--jti, its --subject optional) or a subject's tokens (--subject)."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import revocations

    if jti is None and subject is None:
        raise click.UsageError("give --jti (one token) or --subject (all of its tokens)")
    if jti is None and expires is not None:
        raise click.UsageError("--expires goes with --jti")
    runtime = command_runtime()
    try:
        if jti is not None:
            row = revocations.revoke_jti(
                runtime.db,
                runtime.clock,
                _operator(by),
                jti,
                reason=reason,
                expires_at=_moment(expires),
                subject=subject,
            )
            assert row.expires_at is not None
            click.echo(f"revoked token {row.jti} until {row.expires_at.isoformat()}")
        else:
            assert subject is not None
            row = revocations.revoke_subject(
                runtime.db, runtime.clock, _operator(by), subject, reason=reason
            )
            assert row.not_before is not None
            click.echo(
                f"revoked every token of {row.subject} issued before {row.not_before.isoformat()}"
            )
    except DomainError as exc:
        raise click.ClickException(f"{exc.field or 'input'}: {exc.message}") from exc


@tokens_group.command("list")
def tokens_list() -> None:
    """The revocations in force, newest first (one per line, tab-separated)."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import revocations

    runtime = command_runtime()
    for row in revocations.list_revocations(runtime.db, runtime.clock):
        if row.jti is not None:
            what = f"jti\t{row.jti}\tuntil {row.expires_at.isoformat() if row.expires_at else '-'}"
        else:
            assert row.not_before is not None
            what = f"subject\t{row.subject}\tbefore {row.not_before.isoformat()}"
        click.echo(f"{row.created_at.isoformat()}\t{what}\t{row.actor_id}\t{row.reason or ''}")


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise click.BadParameter(
            "an ISO 8601 time or epoch seconds", param_hint="--expires"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""``rewards-engine secrets ...``: moving the erasure salt out of the database, and
re-fingerprinting after a fingerprint-key rotation (docs/operations.md, Secrets).

No secret is ever logged: ``export-erasure-salt`` writes the salt to standard output
only, for the operator to put in their secret store.
"""

from __future__ import annotations

import logging

import click

from rewards_engine.config import ConfigError
from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime

log = logging.getLogger(__name__)
CLI = Actor.system("cli")  # who the audit log names for these commands


def refuse_unsafe_secrets(runtime: Runtime) -> None:
    """Refuse to start while the database holds an erasure salt the configuration does not
    name. A database that cannot be reached yet is not a reason to refuse (the API answers
    503 until it is): every process checks again on its first use of the salt."""
    from sqlalchemy.exc import OperationalError

    from rewards_engine.services import installation

    try:
        installation.check_at_start(runtime.db)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError:
        log.warning("the erasure salt could not be checked: the database is unreachable")


@click.group("secrets")
def secrets_group() -> None:
    """Move the erasure salt out of the database; re-fingerprint after a key rotation."""


@secrets_group.command("export-erasure-salt")
def export_erasure_salt() -> None:
    """Print the erasure salt an older installation keeps in its database, once, for the
    secret store: then set ERASURE_SALTS to it and run `secrets forget-database-salt`."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import installation

    salt = installation.export_database_salt(command_runtime().db)
    if salt is None:
        raise click.ClickException(
            "the database holds no erasure salt: ERASURE_SALTS alone is the salt"
        )
    click.echo(salt)


@secrets_group.command("forget-database-salt")
def forget_database_salt() -> None:
    """Delete the database's erasure salt, once ERASURE_SALTS names it."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.services import installation

    runtime = command_runtime(needs=("hashing",))
    try:
        forgot = installation.forget_database_salt(runtime.db, runtime.clock, CLI)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        "the database's erasure salt is deleted: ERASURE_SALTS is the only copy now"
        if forgot
        else "the database holds no erasure salt: nothing to do"
    )


@secrets_group.command("refingerprint")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def refingerprint(batch: int) -> None:
    """Fingerprint every gift-card code and payout destination under the newest of
    FINGERPRINT_KEYS (decrypting them), so that older keys can be dropped."""
    from rewards_engine.cli import command_runtime
    from rewards_engine.progress import progress
    from rewards_engine.services import key_rotation

    runtime = command_runtime(needs=("encryption", "hashing"))
    with progress("re-fingerprinting") as bar:
        report = key_rotation.refingerprint(
            runtime.db, runtime.clock, CLI, runtime.vault, batch, on_progress=bar.report
        )
    click.echo(
        f"codes: {report.codes_changed} of {report.codes_checked} changed"
        f" ({report.codes_duplicated} stored twice, left as they are); "
        f"payout destinations: {report.destinations_changed} of "
        f"{report.destinations_checked} changed"
    )

"""The engine's commands: ``rewards-engine migrate``, ``load-fixtures``, ``jobs run`` ...

The console script itself is ``api.cli:main``, which adds ``serve`` to these.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Collection
from datetime import timedelta
from typing import Any, TextIO

import click

from rewards_engine import jobs as job_registry
from rewards_engine.bootstrap import build_runtime
from rewards_engine.config import API_NEEDS, ConfigError, Settings
from rewards_engine.domain.roles import Role
from rewards_engine.logs import configure_logging
from rewards_engine.progress import progress
from rewards_engine.redis_server import EmbeddedRedis
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import JobBusy, Scheduler, run_job
from rewards_engine.tokens import issue_token

log = logging.getLogger(__name__)


def command_runtime(needs: Collection[str] = ()) -> Runtime:
    """This command's runtime, with only the secrets it ``needs`` required (see
    ``Settings.from_env``). An embedded Redis that a one-off command had to start is
    stopped when the command ends."""
    try:
        settings = Settings.from_env(needs=needs)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    if settings.redis_is_embedded:  # started on first use, if the command uses Redis
        embedded = EmbeddedRedis(settings.instance_dir)
        if not embedded.is_running():
            click.get_current_context().call_on_close(embedded.stop)
    return build_runtime(settings)


def explain(exc: BaseException) -> str:
    """One line that says what went wrong and what to do, for an operator."""
    import redis
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    said = str(getattr(exc, "orig", None) or exc).strip()
    first = said.splitlines()[0] if said else type(exc).__name__
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"DATABASE_URL is not a database URL the engine can use: {first}"
    if isinstance(exc, DBAPIError):
        if "no such table" in said or getattr(exc.orig, "sqlstate", None) == "42P01":
            return "the database has no schema yet: run `rewards-engine migrate` first"
        if isinstance(exc, OperationalError):
            return f"the database cannot be reached (DATABASE_URL): {first}"
        return f"the database refused a statement: {first}"
    if isinstance(exc, redis.RedisError):
        return f"Redis cannot be reached (REDIS_URL): {first}"
    return f"{type(exc).__name__}: {first}"


class EngineGroup(click.Group):
    """Every command's failure is one clear line and exit status 1, not a traceback
    (``rewards-engine --debug ...`` shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(f"{explain(exc)} (--debug shows the traceback)") from exc


@click.group(cls=EngineGroup)
@click.option("--debug", is_flag=True, help="Show the traceback when a command fails.")
@click.version_option(package_name="rewards-engine", prog_name="rewards-engine")
def cli(debug: bool) -> None:
    """The rewards engine of the video donation program."""


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest migration."""
    from rewards_engine import schema

    runtime = command_runtime()
    runtime.settings.instance_dir.mkdir(parents=True, exist_ok=True)
    before = schema.current_revision(runtime.db.engine)
    schema.upgrade_to_head(runtime.db.engine)
    after = schema.current_revision(runtime.db.engine)
    click.echo(f"schema at {after}" + ("" if before == after else f" (was {before})"))


@cli.command("load-fixtures")
@click.option("--update", is_flag=True, help="Overwrite existing records that differ.")
@click.option(
    "--demo",
    is_flag=True,
    help="Also the demo: donors, gift-card codes and weeks of activity (built once).",
)
@click.option("--path", type=click.Path(exists=True, file_okay=False), default=None)
def load_fixtures_command(update: bool, demo: bool, path: str | None) -> None:
    """Load campaigns, consent, medals and the catalog from fixtures/ (idempotent)."""
    from pathlib import Path

    from rewards_engine.services.fixtures import load_fixtures

    runtime = command_runtime(needs=("encryption", "hashing") if demo else ())
    directory = Path(path) if path else runtime.settings.fixtures_dir
    with progress("loading fixtures") as bar:
        report = load_fixtures(
            runtime.db,
            runtime.clock,
            directory,
            update=update,
            demo=demo,
            vault=runtime.vault if demo else None,
            on_progress=bar.report,
        )
        bar.echo(
            f"created {report.created or 'nothing'}; updated {report.updated or 'nothing'}; "
            f"unchanged {report.unchanged or 'nothing'}"
        )
        for line in report.differing:
            bar.echo(f"differs from the file (kept; --update applies it): {line}")
        built = None
        if demo:
            from rewards_engine.services.demo import build_activity

            bar.describe("building the demo")
            built = build_activity(runtime, directory, on_progress=bar.report)
    if built is not None and built.built:
        click.echo(
            f"demo activity: {built.donors} donors, {built.clips} clips in {built.calls} "
            "calls, a redemption, a fraud flag and a payout batch to look at"
        )


@cli.command("issue-token")
@click.option("--sub", "subject", required=True, help="The account id the token speaks for.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
def issue_token_command(subject: str, role: str, ttl: int) -> None:
    """Print a signed JWT (for development and tests)."""
    runtime = command_runtime(needs=("tokens",))
    try:
        token = issue_token(
            runtime.settings, subject, Role(role), timedelta(seconds=ttl), runtime.clock.now()
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


@cli.command("attest-camera")
@click.option("--account", required=True, help="The account the camera is registered to.")
@click.option("--serial", required=True, help="The camera's serial number.")
@click.option("--model", default="Cam Outdoor 2", show_default=True)
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
def attest_camera(account: str, serial: str, model: str, ttl: int) -> None:
    """Print a camera attestation signed with the development device-cloud key, as
    the maker's device cloud would issue one (development only; docs/cameras.md)."""
    from rewards_engine.attestations import sign_development_attestation

    runtime = command_runtime()
    try:
        token = sign_development_attestation(
            runtime.settings, account, serial, model, runtime.clock.now(), timedelta(seconds=ttl)
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


@cli.command("sample-video")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--seconds", default=4, show_default=True, type=click.IntRange(2, 600))
@click.option("--seed", type=int, default=None, help="The same seed, the same video.")
def sample_video(path: str, seconds: int, seed: int | None) -> None:
    """Write a small real video to PATH (MP4 for a .mp4 name) to donate, as an app
    would upload one; print its SHA-256 and its size in bytes. Each is a new scene
    unless --seed is given."""
    import secrets

    from rewards_engine.media.probe import file_sha256
    from rewards_engine.media.synthetic import make_video

    if seed is None:
        seed = secrets.randbits(63)
    try:
        made = make_video(path, seconds=seconds, seed=seed)
    except ValueError as exc:  # FFmpeg knows no container by that name
        raise click.ClickException(f"{path}: name it .mp4 (or .mov, .mkv): {exc}") from exc
    digest, size = file_sha256(made)
    click.echo(f"{digest} {size}")


@cli.command()
def scheduler() -> None:
    """Run the scheduler process (one leader among all running schedulers runs the jobs)."""
    from rewards_engine.cli_secrets import refuse_unsafe_secrets

    runtime = command_runtime(needs=API_NEEDS)
    refuse_unsafe_secrets(runtime)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Scheduler(runtime, list(job_registry.JOBS)).run_forever(stop)


@cli.group()
def jobs() -> None:
    """Run scheduled jobs by hand."""


@jobs.command("list")
def jobs_list() -> None:
    """The jobs and their schedules."""
    for spec in job_registry.JOBS:
        trigger = ", ".join(f"{k}={v}" for k, v in spec.trigger.items())
        click.echo(f"{spec.name:24} {trigger:32} {spec.description}")


@jobs.command("run")
@click.argument("name")
@click.option("--no-lock", is_flag=True, help="Run even if Redis cannot provide the job lock.")
def jobs_run(name: str, no_lock: bool) -> None:
    """Run the job NAME once, now."""
    spec = job_registry.find_job(name)
    if spec is None:
        known = ", ".join(s.name for s in job_registry.JOBS) or "none"
        raise click.ClickException(f"no job {name!r}; jobs: {known}")
    runtime = command_runtime()
    try:
        with progress(f"job {name}", counts=False):
            result = run_job(runtime, spec, use_lock=not no_lock)
    except JobBusy as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(", ".join(f"{key}={value}" for key, value in result.items()) or "done")


@cli.group("ledger")
def ledger_group() -> None:
    """Check the ledger."""


@ledger_group.command("verify")
def ledger_verify() -> None:
    """Recompute every balance and counter from the entries; exit 1 on any difference."""
    from rewards_engine.services import ledger

    runtime = command_runtime()
    with progress("verifying the ledger") as bar:
        report = ledger.verify(runtime.db, on_progress=bar.report)
    for line in report.balance_mismatches + report.unbalanced_transfers + report.counter_mismatches:
        click.echo(line)
    click.echo(
        f"checked {report.accounts_checked} accounts and {report.transfers_checked} transfers: "
        + ("all consistent" if report.ok else "DIFFERENCES FOUND")
    )
    if not report.ok:
        sys.exit(1)


@cli.group("wall")
def wall_group() -> None:
    """Maintain the Honor Wall."""


@wall_group.command("rebuild")
@click.option("--board", default=None, help="One board (e.g. month:2025-01); default: all live.")
@click.option(
    "--recount",
    is_flag=True,
    help="First recount each board's tallies from the clips and correct any that drifted "
    "(slower: reads the clips; for a suspected fault, not a lost Redis).",
)
def wall_rebuild(board: str | None, recount: bool) -> None:
    """Rebuild boards from the database's tallies, swapping each in atomically."""
    from rewards_engine.services import wall

    runtime = command_runtime()
    names = [board] if board else wall.live_boards(runtime)
    with progress("rebuilding the wall", total=len(names), unit="boards") as boards:
        for name in names:
            with boards.sub(name, unit="donors placed") as part:
                result = wall.rebuild(runtime, name, on_progress=part.report, recount=recount)
            boards.echo(f"{name}: {result}")
            boards.advance()


@cli.group("medals")
def medals_group() -> None:
    """Medal maintenance."""


@medals_group.command("backfill")
@click.option("--dry-run", is_flag=True, help="Only say who would gain and lose what.")
@click.option("--medal", "code", default=None, help="One medal code; default: all in force.")
def medals_backfill(dry_run: bool, code: str | None) -> None:
    """Apply medal definitions to the whole history (after a dry run)."""
    from rewards_engine.services import medals

    runtime = command_runtime()
    with progress("backfilling medals") as bar:
        report = medals.backfill(
            runtime.db, runtime.clock, code=code, dry_run=dry_run, on_progress=bar.report
        )
    for change in report.gains:
        click.echo(f"gain  donor {change.donor_id:>10}  {change.code} {change.period_key}".rstrip())
    for change in report.losses:
        click.echo(f"lose  donor {change.donor_id:>10}  {change.code} {change.period_key}".rstrip())
    summary = report.summary()
    click.echo(
        f"{'applied' if report.applied else 'dry run'}: {summary['gains']} gains, "
        f"{summary['losses']} losses over {summary['donors_evaluated']} donors"
    )


@cli.group("rewards")
def rewards_group() -> None:
    """The rewards catalog."""


@rewards_group.command("import-codes")
@click.argument("item")
@click.argument("csv_file", type=click.File("r"))
def import_codes_command(item: str, csv_file: TextIO) -> None:
    """Upload gift-card codes for ITEM from a CSV file (first column; header `code`)."""
    from rewards_engine.domain.actors import Actor
    from rewards_engine.services import rewards

    runtime = command_runtime(needs=("encryption", "hashing"))
    codes = rewards.parse_codes(csv_file.read())
    with progress("importing codes", total=len(codes), unit="codes") as bar:
        report = rewards.import_codes(
            runtime.db,
            runtime.clock,
            Actor.system("cli"),
            runtime.vault,
            item,
            codes,
            on_progress=bar.report,
        )
    click.echo(
        f"added {report.added}, duplicates {report.duplicates}, "
        f"invalid lines {report.invalid or 'none'}"
    )


@cli.group("clips")
def clips_group() -> None:
    """Donated clips."""


@clips_group.command("export-training")
@click.option("--campaign", default=None, help="Only this campaign's clips.")
@click.option("--output", type=click.File("w"), default="-", help="Default: standard output.")
def clips_export_training(campaign: str | None, output: Any) -> None:
    """Clips usable for training, as JSON lines: accepted, metadata kept, donor active,
    not erased and holding the current consent. Donors are not named."""
    from rewards_engine.services import privacy

    runtime = command_runtime()
    on_screen = output.isatty()  # rows for a terminal go above the bar, not through it
    with progress("exporting training clips", unit="clips") as bar:
        for row in privacy.training_clips(runtime.db, runtime.clock, campaign):
            if on_screen:
                bar.echo(json.dumps(row), file=output)
            else:
                output.write(json.dumps(row) + "\n")
            bar.advance()
    click.echo(f"{bar.done} clips exported", err=True)


from rewards_engine.cli_secrets import secrets_group  # noqa: E402  (it uses command_runtime)

cli.add_command(secrets_group)

from rewards_engine.cli_tokens import tokens_group  # noqa: E402  (it uses command_runtime)

cli.add_command(tokens_group)

from rewards_engine.cli_gift_cards import gift_cards_group  # noqa: E402  (it uses command_runtime)

cli.add_command(gift_cards_group)

from rewards_engine.cli_audit import audit_group  # noqa: E402  (it uses command_runtime)

cli.add_command(audit_group)

from rewards_engine.cli_payouts import payouts_group  # noqa: E402  (it uses command_runtime)

cli.add_command(payouts_group)

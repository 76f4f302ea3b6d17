"""Secrets out of the database, and their rotation (issue 24, part 5), on stored data:
the legacy salt in ``installation_secrets`` (refused at start until configured, exported,
forgotten), a rotated erasure salt that still recognises erased accounts and videos, a
rotated encryption key or fingerprint key that still finds duplicate gift-card codes and
shared payout destinations, and ``secrets refingerprint``. No secret reaches a log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.bootstrap import build_runtime
from rewards_engine.cli import cli
from rewards_engine.cli_secrets import refuse_unsafe_secrets
from rewards_engine.clock import Clock
from rewards_engine.config import ConfigError, Settings
from rewards_engine.crypto import LEGACY, Vault, generate_key
from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.models import (
    AuditRecord,
    Clip,
    Donor,
    GiftCardCode,
    IdempotencyKey,
    InstallationSecret,
    SubmissionBatch,
)
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import run_job
from rewards_engine.services import donors, installation, key_rotation, rewards
from rewards_engine.services.payouts.destinations import prepare_destination
from tests.conftest import app_for
from tests.support.factories import BOUNTY, body, clip, consenting_donor, donate, load_program

ITEM = "gift-card-amazon-10-usd"
OLD_SALT, NEW_SALT, LEGACY_SALT = "o" * 64, "n" * 64, "l" * 64
OLD_FP, NEW_FP = "old-fingerprint-key-" + "1" * 20, "new-fingerprint-key-" + "2" * 20
ADMIN = Actor(id="admin:ops", role="admin")


@pytest.fixture
def runtimes(settings: Settings, clock: Clock) -> Iterator[Any]:
    """``make(**secrets)``: a runtime on the test's database with other secrets, as a
    process restarted with a new configuration would be."""
    made: list[Runtime] = []

    def make(**secrets: Any) -> Runtime:
        runtime = build_runtime(replace(settings, **secrets), clock=clock)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log line of the test, checked at its end for the secrets it used."""
    with caplog.at_level(logging.DEBUG):
        yield
    text = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for secret in (OLD_SALT, NEW_SALT, LEGACY_SALT, OLD_FP, NEW_FP, "GIFT-ROTATE-1"):
        assert secret not in text


def _plant_legacy_salt(runtime: Runtime, value: str = LEGACY_SALT) -> None:
    with runtime.db.transaction() as uow:
        uow.session.add(InstallationSecret(name=installation.ERASURE_SALT, value=value))


# --- the legacy salt in the database ---------------------------------------------------------


def test_a_database_salt_the_configuration_does_not_name_refuses_to_start(runtimes) -> None:  # type: ignore[no-untyped-def]
    first = runtimes(erasure_salts=(NEW_SALT,))
    _plant_legacy_salt(first)
    runtime = runtimes(erasure_salts=(NEW_SALT,))  # a process started after the upgrade
    with pytest.raises(click.ClickException, match="export-erasure-salt"):
        refuse_unsafe_secrets(runtime)  # serve and scheduler call this before anything
    with pytest.raises(ConfigError, match="ERASURE_SALTS does not name"):  # and any first use
        donors.is_erased(runtime.db, "someone")
    for salts in ((LEGACY_SALT,), (NEW_SALT, LEGACY_SALT)):  # named, newest first or alone
        refuse_unsafe_secrets(runtimes(erasure_salts=salts))
        assert not donors.is_erased(runtimes(erasure_salts=salts).db, "someone")


def test_a_salt_mismatch_met_first_in_a_request_answers_503_and_writes_nothing(  # type: ignore[no-untyped-def]
    runtimes, auth, caplog: pytest.LogCaptureFixture
) -> None:
    first = runtimes(erasure_salts=(NEW_SALT,))
    load_program(first)
    consenting_donor(first, "ana")
    _plant_legacy_salt(first)  # after this process checked its database
    runtime = runtimes(erasure_salts=(NEW_SALT,))  # started without the start check
    client = app_for(runtime).test_client()
    headers = {**auth("ana"), "Idempotency-Key": "first-try"}
    answer = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=headers)
    assert answer.status_code == 503, answer.get_json()
    assert answer.get_json()["error"] == "service_misconfigured"
    assert answer.headers["Retry-After"] == "60"
    assert "ERASURE_SALTS" not in answer.get_data(as_text=True)  # for the operator: the log
    [logged] = [r for r in caplog.records if r.getMessage() == "configuration error"]
    assert "ERASURE_SALTS does not name" in logged.__dict__["fields"]["reason"]
    with runtime.db.read() as session:  # the whole transaction rolled back
        for written in (Clip, SubmissionBatch, IdempotencyKey):
            assert session.scalar(select(func.count()).select_from(written)) == 0


def test_export_then_forget_moves_the_salt_out_of_the_database(  # type: ignore[no-untyped-def]
    runtimes, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_legacy_salt(runtimes(erasure_salts=(NEW_SALT,)))
    runner = CliRunner()
    exported = runner.invoke(cli, ["secrets", "export-erasure-salt"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.strip() == LEGACY_SALT

    monkeypatch.setenv("ERASURE_SALTS", NEW_SALT)  # the salt not configured yet
    refused = runner.invoke(cli, ["secrets", "forget-database-salt"])
    assert refused.exit_code == 1 and "refusing to delete" in refused.output
    with runtimes(erasure_salts=(NEW_SALT,)).db.read() as session:
        assert installation.database_salt(session) == LEGACY_SALT

    monkeypatch.setenv("ERASURE_SALTS", f"{NEW_SALT},{exported.output.strip()}")
    forgot = runner.invoke(cli, ["secrets", "forget-database-salt"])
    assert forgot.exit_code == 0, forgot.output
    assert "deleted" in forgot.output
    with runtimes(erasure_salts=(NEW_SALT,)).db.read() as session:
        [forgotten] = session.scalars(
            select(AuditRecord).where(col(AuditRecord.action) == "secrets.database_salt_forgotten")
        ).all()
    assert LEGACY_SALT not in str(forgotten.after) and forgotten.actor_id == "system:cli"
    with runtimes(erasure_salts=(NEW_SALT,)).db.read() as session:
        assert installation.database_salt(session) is None
    refuse_unsafe_secrets(runtimes(erasure_salts=(NEW_SALT,)))  # nothing left to refuse
    again = runner.invoke(cli, ["secrets", "export-erasure-salt"])
    assert again.exit_code == 1 and "holds no erasure salt" in again.output
    assert LEGACY_SALT not in forgot.output


def test_the_salt_costs_no_round_trip_after_a_process_first_use(runtimes, auth) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    runtime = runtimes(erasure_salts=(NEW_SALT, OLD_SALT))
    statements: list[str] = []
    event.listen(runtime.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    load_program(runtime)
    client = app_for(runtime).test_client()
    consenting_donor(runtime, "ana")  # its first use: the database is checked, once
    donate(client, auth("ana"), [clip()])
    assert sum("installation_secrets" in sql for sql in statements) == 1
    statements.clear()
    donate(client, auth("ana"), [clip(), clip()])
    assert statements and not any("installation_secrets" in sql for sql in statements)


# --- erasure salt rotation ------------------------------------------------------------------


def test_an_erased_account_and_video_still_match_after_a_salt_rotation(runtimes, auth) -> None:  # type: ignore[no-untyped-def]
    before = runtimes(erasure_salts=(OLD_SALT,))
    load_program(before)
    client = app_for(before).test_client()
    consenting_donor(before, "ana")
    sent = clip()
    donate(client, auth("ana"), [sent])
    assert client.delete("/v1/me", headers=auth("ana")).status_code == 202
    assert run_job(before, find_job("erase-donors"))["donors"] == 1

    rotated = runtimes(erasure_salts=(NEW_SALT, OLD_SALT))
    client = app_for(rotated).test_client()
    assert client.get("/v1/me", headers=auth("ana")).status_code == 401  # still refused
    consenting_donor(rotated, "ben")
    [again] = donate(client, auth("ben"), [clip(video_sha256=sent["video_sha256"])])
    assert again["status"] == "duplicate"  # the erased video is not paid twice

    # The old salt dropped: the kept hashes no longer match (why it must stay).
    dropped = runtimes(erasure_salts=(NEW_SALT,))
    assert not donors.is_erased(dropped.db, "ana")
    client = app_for(dropped).test_client()
    consenting_donor(dropped, "cy")
    [paid] = donate(client, auth("cy"), [clip(video_sha256=sent["video_sha256"])])
    assert paid["status"] != "duplicate"


# --- fingerprints ---------------------------------------------------------------------------


def _import(runtime: Runtime, *codes: str) -> rewards.ImportReport:
    return rewards.import_codes(runtime.db, runtime.clock, ADMIN, runtime.vault, ITEM, codes)


def _set_destination(runtime: Runtime, donor_id: int, email: str) -> None:
    payout = prepare_destination(runtime, {"kind": "paypal_email", "value": email})
    donors.update_profile(runtime.db, runtime.clock, donor_id, donors.ProfileChanges(payout=payout))


def _destination_fingerprints(runtime: Runtime, *donor_ids: int) -> list[str | None]:
    with runtime.db.read() as session:
        return [session.get(Donor, donor_id).payout_fingerprint for donor_id in donor_ids]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            {"encryption_keys": ("K1",), "fingerprint_keys": (LEGACY,)},  # upgraded as is
            {"encryption_keys": ("K2", "K1"), "fingerprint_keys": (LEGACY,)},
            id="encryption-key-rotation-legacy-fingerprints",
        ),
        pytest.param(
            {"encryption_keys": ("K1",), "fingerprint_keys": (OLD_FP,)},
            {"encryption_keys": ("K2", "K1"), "fingerprint_keys": (OLD_FP,)},
            id="encryption-key-rotation",
        ),
        pytest.param(
            {"encryption_keys": ("K1",), "fingerprint_keys": (OLD_FP,)},
            {"encryption_keys": ("K1",), "fingerprint_keys": (NEW_FP, OLD_FP)},
            id="fingerprint-key-rotation",
        ),
        pytest.param(
            {"encryption_keys": ("K1",), "fingerprint_keys": (LEGACY,)},
            {"encryption_keys": ("K1",), "fingerprint_keys": (NEW_FP, LEGACY)},
            id="legacy-to-own-key",
        ),
    ],
)
def test_duplicate_codes_and_shared_destinations_are_found_across_a_rotation(  # type: ignore[no-untyped-def]
    runtimes, before: dict[str, Any], after: dict[str, Any]
) -> None:
    keys = {"K1": generate_key(), "K2": generate_key()}

    def secrets(given: dict[str, Any]) -> dict[str, Any]:
        return {
            "encryption_keys": tuple(keys[k] for k in given["encryption_keys"]),
            "fingerprint_keys": given["fingerprint_keys"],
        }

    old = runtimes(**secrets(before), erasure_salts=(OLD_SALT,))
    load_program(old)
    assert _import(old, "GIFT-ROTATE-1").added == 1
    ana = consenting_donor(old, "ana")
    _set_destination(old, ana, "shared@example.com")

    new = runtimes(**secrets(after), erasure_salts=(OLD_SALT,))
    report = _import(new, "GIFT-ROTATE-1", "GIFT-ROTATE-2")
    assert (report.added, report.duplicates) == (1, 1)
    ben = consenting_donor(new, "ben")
    _set_destination(new, ben, "shared@example.com")
    first, second = _destination_fingerprints(new, ana, ben)
    assert first is not None and first == second  # what the shared-identity rule groups on


def test_refingerprint_moves_every_fingerprint_to_the_newest_key(runtimes) -> None:  # type: ignore[no-untyped-def]
    key = generate_key()
    old = runtimes(encryption_keys=(key,), fingerprint_keys=(OLD_FP,))
    load_program(old)
    _import(old, "GIFT-ROTATE-1", "GIFT-ROTATE-2")
    ana, ben = consenting_donor(old, "ana"), consenting_donor(old, "ben")
    _set_destination(old, ana, "shared@example.com")

    rotated = runtimes(encryption_keys=(key,), fingerprint_keys=(NEW_FP, OLD_FP))
    _set_destination(rotated, ben, "shared@example.com")  # joins ana under the old key
    report = key_rotation.refingerprint(rotated.db, rotated.clock, ADMIN, rotated.vault, batch=2)
    assert report.destinations_changed == 2 and report.codes_duplicated == 0
    assert report.codes_changed >= 2  # ours, and the demo's codes
    again = key_rotation.refingerprint(rotated.db, rotated.clock, ADMIN, rotated.vault)
    assert again.codes_changed == 0  # done
    with rotated.db.read() as session:
        runs = session.scalars(
            select(AuditRecord).where(col(AuditRecord.action) == "secrets.refingerprinted")
        ).all()
    assert [run.after["destinations_changed"] for run in runs] == [2, 0]  # audited, counts only

    newest = Vault((key,), (NEW_FP,))
    with rotated.db.read() as session:
        stored = session.scalars(
            select(col(GiftCardCode.fingerprint)).where(col(GiftCardCode.item_id) == ITEM)
        ).all()
    assert newest.fingerprint("GIFT-ROTATE-1") in stored
    assert Vault((key,), (OLD_FP,)).fingerprint("GIFT-ROTATE-1") not in stored
    # The old key can go: matching still finds what was stored under it.
    dropped = runtimes(encryption_keys=(key,), fingerprint_keys=(NEW_FP,))
    assert _import(dropped, "GIFT-ROTATE-2").duplicates == 1
    first, second = _destination_fingerprints(dropped, ana, ben)
    assert first == second == newest.fingerprint("shared@example.com")


def test_the_refingerprint_command(runtimes, cli_env: Settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key = cli_env.encryption_keys[0]
    old = runtimes(fingerprint_keys=(OLD_FP,))
    load_program(old)
    _import(old, "GIFT-ROTATE-1")
    monkeypatch.setenv("FINGERPRINT_KEYS", f"{NEW_FP},{OLD_FP}")
    done = CliRunner().invoke(cli, ["secrets", "refingerprint"])
    assert done.exit_code == 0, done.output
    assert "codes: " in done.output and "0 stored twice" in done.output
    with old.db.read() as session:
        stored = session.scalars(select(col(GiftCardCode.fingerprint))).all()
    assert Vault((key,), (NEW_FP,)).fingerprint("GIFT-ROTATE-1") in stored
    assert Vault((key,), (OLD_FP,)).fingerprint("GIFT-ROTATE-1") not in stored

from pathlib import Path

import pytest
from sqlalchemy import func, select

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.models import Campaign, ConsentVersion, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services.fixtures import load_fixtures


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Campaign, ConsentVersion, Donor)
        }


def test_loading_twice_changes_nothing(runtime: Runtime, fixtures_dir: Path) -> None:
    first = load_fixtures(runtime.db, runtime.clock, fixtures_dir, demo=True)
    assert first.created == {
        "campaign": 2,
        "consent": 1,
        "donor": 4,
        "medal": 12,
        "reward": 5,
        "fraud_rule": 8,
        "staff_role": 4,
    }
    with runtime.db.read() as session:
        aliases = {d.account_id: d.alias for d in session.scalars(select(Donor))}
    second = load_fixtures(runtime.db, runtime.clock, fixtures_dir, demo=True)
    assert not second.changed_anything
    assert second.unchanged == first.created
    assert counts(runtime) == {"Campaign": 2, "ConsentVersion": 1, "Donor": 4}
    with runtime.db.read() as session:
        assert {d.account_id: d.alias for d in session.scalars(select(Donor))} == aliases


def test_the_first_campaign_is_the_program_history(runtime: Runtime, fixtures_dir: Path) -> None:
    load_fixtures(runtime.db, runtime.clock, fixtures_dir)
    with runtime.db.read() as session:
        bounty = session.get(Campaign, "theft-bounty-2024")
    assert bounty is not None
    assert bounty.bounty_cents == 200 and bounty.currency == "USD"
    assert bounty.payout_provider == "paypal"
    assert bounty.incident_types == ["package_theft", "car_door"]
    assert bounty.targets == {"package_theft": 20000, "car_door": 20000}
    assert bounty.cap_per_camera_per_incident_type == 10
    assert bounty.staged_allowed
    assert (bounty.starts_at.date().isoformat(), bounty.ends_at.date().isoformat()) == (
        "2024-12-18",
        "2025-02-25",
    )


def test_admin_changes_are_kept_unless_update_is_asked(
    runtime: Runtime, fixtures_dir: Path
) -> None:
    load_fixtures(runtime.db, runtime.clock, fixtures_dir)
    with runtime.db.transaction() as uow:
        uow.session.get(Campaign, "video-donation-program").points_per_clip = 25
    kept = load_fixtures(runtime.db, runtime.clock, fixtures_dir)
    assert not kept.changed_anything
    assert kept.differing == ["campaign video-donation-program: points_per_clip"]
    with runtime.db.read() as session:
        assert session.get(Campaign, "video-donation-program").points_per_clip == 25
    updated = load_fixtures(runtime.db, runtime.clock, fixtures_dir, update=True)
    assert updated.updated == {"campaign": 1}
    with runtime.db.read() as session:
        assert session.get(Campaign, "video-donation-program").points_per_clip == 10


def test_demo_data_only_when_asked(runtime: Runtime, fixtures_dir: Path) -> None:
    report = load_fixtures(runtime.db, runtime.clock, fixtures_dir)
    assert "donor" not in report.created and report.created["reward"] == 5
    assert counts(runtime)["Donor"] == 0


def test_medal_changes_in_the_file_become_new_versions(runtime: Runtime, tmp_path: Path) -> None:
    from rewards_engine.models import MedalDefinition

    medal = (
        '[[medal]]\ncode = "first"\nname = "First"\nicon_key = "i"\ntier = "bronze"\n'
        'rule = {{ kind = "count", threshold = {n} }}\n'
    )
    (tmp_path / "medals.toml").write_text(medal.format(n=1))
    load_fixtures(runtime.db, runtime.clock, tmp_path)
    (tmp_path / "medals.toml").write_text(medal.format(n=2))
    kept = load_fixtures(runtime.db, runtime.clock, tmp_path)
    assert kept.differing == ["medal first: rule"]
    load_fixtures(runtime.db, runtime.clock, tmp_path, update=True)
    with runtime.db.read() as session:
        versions = session.query(MedalDefinition).order_by(MedalDefinition.version).all()
    assert [(v.version, v.rule["threshold"]) for v in versions] == [(1, 1), (2, 2)]


def test_a_bad_file_writes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "campaigns.toml").write_text(
        '[[campaign]]\nid = "c"\nname = "C"\nstarts_at = 2025-01-01T00:00:00Z\n'
        'incident_types = ["a"]\npoints_per_clip = 1\nbogus = 3\n'
    )
    (tmp_path / "demo_donors.toml").write_text('[[donor]]\naccount_id = "d1"\n')
    with pytest.raises(InvalidInput, match="bogus"):
        load_fixtures(runtime.db, runtime.clock, tmp_path, demo=True)
    assert counts(runtime) == {"Campaign": 0, "ConsentVersion": 0, "Donor": 0}

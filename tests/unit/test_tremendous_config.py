"""TREMENDOUS_* settings (config.py ``TremendousSettings.from_env``)."""

from pathlib import Path

import pytest

from rewards_engine.config import ConfigError, TremendousSettings


def test_unset_is_not_configured() -> None:
    settings = TremendousSettings.from_env({})
    assert not settings.configured
    assert settings.base_url == "https://testflight.tremendous.com/api/v2"  # the sandbox


def test_the_key_from_a_file_and_the_funding_source_configure_it(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("PROD_abc\n")
    settings = TremendousSettings.from_env({
        "TREMENDOUS_API_KEY_FILE": str(key),
        "TREMENDOUS_FUNDING_SOURCE_ID": "FS-1",
        "TREMENDOUS_BASE_URL": "https://www.tremendous.com/api/v2/",
        "TREMENDOUS_RETRY_AFTER_S": "5",
    })  # fmt: skip
    assert settings.configured and settings.api_key == "PROD_abc"
    assert settings.base_url == "https://www.tremendous.com/api/v2"
    assert settings.retry_after_s == 60  # never sooner than a minute
    assert "PROD_abc" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"TREMENDOUS_API_KEY": "k"}, "TREMENDOUS_FUNDING_SOURCE_ID"),
        ({"TREMENDOUS_FUNDING_SOURCE_ID": "FS-1"}, "TREMENDOUS_API_KEY"),
    ],
)
def test_one_without_the_other_is_refused_naming_the_missing_one(
    env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=missing):
        TremendousSettings.from_env(env)

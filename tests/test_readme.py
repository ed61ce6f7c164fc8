"""The README's settings table is rendered from PlexSyncConfig's SETTINGS: it cannot drift."""

from pathlib import Path

from validation.config import SETTINGS, PlexSyncConfig
from validation.manifest import settings_table, with_settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_matches_the_config() -> None:
    text = README.read_text(encoding="utf-8")
    assert text == with_settings_table(text), "README settings table is stale: run `python -m validation.manifest readme`"


def test_every_config_field_has_a_documented_setting() -> None:
    table = settings_table()
    assert {s.field for s in SETTINGS} == set(PlexSyncConfig.model_fields)
    for setting in SETTINGS:
        assert f"| {setting.display_name} | `{setting.key}` |" in table


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:1500]
    assert "make demo" in head and "make test" in head

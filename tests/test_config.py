"""validation/config.py: PlexSyncConfig, Stash's settings map, errors by display name."""

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.log import redact
from validation.config import (
    SETTING_BY_FIELD,
    SETTING_BY_KEY,
    SETTINGS,
    ConfigError,
    PathMapping,
    PlexSyncConfig,
    parse_path_mappings,
)

TOKEN = "AbCdEfGh1234567890xy"
REQUIRED = {"plex_url": "http://192.168.1.10:32400", "plex_token": TOKEN}


# -- the contract ------------------------------------------------------------------------

@pytest.mark.parametrize("url, token", [("http://x:32400", "xxxxxxxxxxxx"), ("http://127.0.0.1:32400", "x" * 20)])
def test_contract_configs_are_accepted(url, token):
    config = PlexSyncConfig(plex_url=url, plex_token=token)
    assert config.plex_url == url
    assert config.token() == token


def test_dlq_retention_defaults_to_30():
    assert PlexSyncConfig(plex_url="http://x:32400", plex_token="x" * 20).dlq_retention_days == 30


@pytest.mark.parametrize("days", [1, 2, 30, 180, 364, 365])
def test_dlq_retention_accepts_1_to_365(days):
    config = PlexSyncConfig(plex_url="http://x:32400", plex_token="x" * 20, dlq_retention_days=days)
    assert config.dlq_retention_days == days


@pytest.mark.parametrize("days", [0, -1, 366, 1000])
def test_dlq_retention_rejects_out_of_range(days):
    with pytest.raises(ValueError) as info:
        PlexSyncConfig(plex_url="http://x:32400", plex_token="x" * 20, dlq_retention_days=days)
    assert isinstance(info.value, ValidationError)
    assert "dlq_retention_days" in str(info.value)


def test_log_config_logs_retention_and_masks_token():
    config = PlexSyncConfig(plex_url="http://x:32400", plex_token=TOKEN, dlq_retention_days=45)
    with mock.patch("validation.config.log_info") as log_info:
        config.log_config()
    messages = [str(c.args[0]) for c in log_info.call_args_list]
    assert any("dlq_retention_days" in m and "45" in m for m in messages)
    assert any("Dead-letter retention (days)" in m for m in messages)
    assert all(TOKEN not in m for m in messages)
    assert any("Plex token" in m and "****" in m for m in messages)


def test_log_config_on_stderr_never_shows_the_token(capsys, parse_log):
    # Built directly: the token was never registered as a secret, so masking
    # must come from log_config itself, not from the log's redaction.
    config = PlexSyncConfig(plex_url="http://x:32400", plex_token=TOKEN)
    config.log_config()
    err = capsys.readouterr().err
    assert TOKEN not in err
    lines = parse_log(err)
    assert {level for level, _ in lines} == {"i"}
    # Every setting appears, by display name.
    for setting in SETTINGS:
        assert any(setting.display_name in message for _, message in lines), setting.display_name


# -- model rules ----------------------------------------------------------------------------

def test_url_trailing_slash_stripped_and_whitespace_trimmed():
    assert PlexSyncConfig(plex_url="  https://plex.example:32400/  ", plex_token=TOKEN).plex_url == \
        "https://plex.example:32400"


@pytest.mark.parametrize("url", ["ftp://x:32400", "x:32400", "http://", "http://x:99999",
                                 "http://x:32400/?X-Plex-Token=abc", "http://x:32400/#frag", ""])
def test_bad_urls_rejected(url):
    with pytest.raises(ValidationError):
        PlexSyncConfig(plex_url=url, plex_token=TOKEN)


@pytest.mark.parametrize("token", ["short", "has a space inside!", "       ", "tab\there12345"])
def test_bad_tokens_rejected_without_echo(token):
    with pytest.raises(ValidationError) as info:
        PlexSyncConfig(plex_url="http://x:32400", plex_token=token)
    if token.strip():
        assert token.strip() not in str(info.value)
        assert token.strip() not in repr(info.value)
    assert "plex_token" in str(info.value)


def test_token_never_in_repr_str_or_dump():
    config = PlexSyncConfig(plex_url="http://x:32400", plex_token=TOKEN)
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert TOKEN not in config.model_dump_json()
    assert TOKEN not in str(config.model_dump())


def test_config_is_immutable_and_rejects_unknown_fields():
    config = PlexSyncConfig(plex_url="http://x:32400", plex_token=TOKEN)
    with pytest.raises(ValidationError):
        config.dlq_retention_days = 5
    with pytest.raises(ValidationError):
        PlexSyncConfig(plex_url="http://x:32400", plex_token=TOKEN, no_such_setting=1)


# -- from_stash: Stash's settings map ---------------------------------------------------------

def test_from_stash_absent_keys_mean_defaults():
    built = PlexSyncConfig.from_stash(dict(REQUIRED))
    assert built == PlexSyncConfig(plex_url=REQUIRED["plex_url"], plex_token=TOKEN)
    assert built.sync_title and built.lock_fields and built.strict_matching and built.verify_tls
    assert built.trigger_plex_scan and not built.sync_tagline and not built.debug_logging
    assert built.dlq_retention_days == 30 and built.max_retries == 5 and built.not_found_max_retries == 12
    assert built.plex_libraries == () and built.path_mappings == () and built.reconcile_interval == "off"


def test_from_stash_null_and_blank_numbers_mean_defaults():
    built = PlexSyncConfig.from_stash({**REQUIRED, "dlq_retention_days": None, "max_tags": "  ",
                                       "skip_title": None, "connect_timeout": ""})
    assert built.dlq_retention_days == 30 and built.max_tags == 0 and built.sync_title
    assert built.connect_timeout == 5.0


def test_from_stash_takes_stash_typed_values(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    built = PlexSyncConfig.from_stash({
        **REQUIRED,
        "plex_libraries": "Movies, Stash ,, ",
        "path_case_insensitive": True,           # BOOLEAN → bool
        "sync_tagline": True,
        "max_tags": 30,                          # NUMBER → number
        "dlq_retention_days": 90.0,              # Stash (Go float64) may send 90.0
        "connect_timeout": 2.5,
        "max_retries": 8,
        "reconcile_interval": " Daily ",
        "tag_exclude": "Favorite; _*;\nTodo",
        "data_dir": "  ",
        "ca_bundle": str(ca_file),
        "debug_logging": False,
    })
    assert built.plex_libraries == ("Movies", "Stash")
    assert built.path_case_insensitive is True and built.sync_tagline is True
    assert built.max_tags == 30 and built.dlq_retention_days == 90 and isinstance(built.dlq_retention_days, int)
    assert built.connect_timeout == 2.5 and built.max_retries == 8
    assert built.reconcile_interval == "daily"
    assert built.tag_exclude == ("Favorite", "_*", "Todo")
    assert built.data_dir is None and built.ca_bundle == str(ca_file)


def test_a_ca_file_that_does_not_exist_names_the_setting(tmp_path):
    missing = tmp_path / "nowhere" / "plex-ca.pem"
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash({**REQUIRED, "ca_bundle": str(missing)})
    assert "'CA certificate file'" in str(info.value) and str(missing) in str(info.value)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.inverted], ids=lambda s: s.key)
def test_inverted_opt_out_keys(setting):
    field = setting.field
    default = PlexSyncConfig.model_fields[field].default
    assert default is True  # every opt-out guards a default-on behaviour
    assert getattr(PlexSyncConfig.from_stash({**REQUIRED, setting.key: True}), field) is False
    assert getattr(PlexSyncConfig.from_stash({**REQUIRED, setting.key: False}), field) is True
    assert getattr(PlexSyncConfig.from_stash(dict(REQUIRED)), field) is True
    assert setting.to_stash_value(False) is True and setting.to_stash_value(True) is False


@pytest.mark.parametrize("raw, synced", [("true", False), ("True", False), ("1", False), ("yes", False),
                                         ("false", True), ("0", True), ("no", True)])
def test_opt_out_given_as_text_is_not_inverted_the_wrong_way(raw, synced):
    # Stash sends BOOLEAN settings as bools, but a setting written through the API
    # can arrive as text: "true" for "Don't sync title" must still mean "don't".
    assert PlexSyncConfig.from_stash({**REQUIRED, "skip_title": raw}).sync_title is synced


def test_unknown_settings_are_ignored():
    assert PlexSyncConfig.from_stash({**REQUIRED, "from_a_future_release": 3}).plex_url == REQUIRED["plex_url"]


def test_from_stash_registers_the_token_as_secret():
    PlexSyncConfig.from_stash(dict(REQUIRED))
    assert redact(f"token={TOKEN}") == "token=****"


def test_from_stash_overrides_win():
    assert PlexSyncConfig.from_stash(dict(REQUIRED), data_dir="/tmp/x").data_dir == "/tmp/x"


def test_settings_table_is_consistent_with_the_model():
    fields = set(PlexSyncConfig.model_fields)
    assert {s.field for s in SETTINGS} == fields  # every field has exactly one setting
    assert len(SETTING_BY_KEY) == len(SETTINGS) == len(SETTING_BY_FIELD)
    for setting in SETTINGS:
        assert setting.display_name and setting.description
        assert setting.type in ("STRING", "NUMBER", "BOOLEAN")
        if setting.type == "BOOLEAN":
            # Unticked (absent) is the default: opt-outs guard default-on fields.
            assert PlexSyncConfig.model_fields[setting.field].default is setting.inverted, setting.key


# -- one error naming every bad setting ---------------------------------------------------------

def test_one_error_names_every_bad_setting_by_display_name():
    bad = {
        "plex_url": "ftp://plex",
        "plex_token": "bad token with spaces",
        "max_tags": -1,
        "dlq_retention_days": 0,
        "reconcile_interval": "monthly",
        "path_mappings": "nonsense",
        "connect_timeout": "fast",
        "max_retries": 2.5,
    }
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash(bad)
    message = str(info.value)
    for key in bad:
        assert f"'{SETTING_BY_KEY[key].display_name}'" in message, key
    assert len(info.value.problems) == len(bad)
    assert "bad token with spaces" not in message and "bad token with spaces" not in repr(info.value)


def test_missing_required_settings_reported_together_with_other_bad_ones():
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash({"dlq_retention_days": 0, "reconcile_interval": "monthly"})
    message = str(info.value)
    for name in ("Plex server URL", "Plex token", "Dead-letter retention (days)", "Automatic reconcile"):
        assert f"'{name}'" in message, name
    assert "not set" in message


def test_empty_settings_name_both_required_settings():
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash(None)
    assert len(info.value.problems) == 2
    assert "'Plex server URL' is not set" in str(info.value)
    assert "'Plex token' is not set" in str(info.value)


def test_error_for_valid_token_and_bad_url_does_not_contain_token():
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash({"plex_url": f"http://plex:32400/?X-Plex-Token={TOKEN}", "plex_token": TOKEN})
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert "'Plex server URL'" in str(info.value)


def test_config_error_is_a_value_error_with_problems():
    with pytest.raises(ValueError):
        PlexSyncConfig.from_stash({})


# -- path mappings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", ()),
    ("  ;  ", ()),
    ("/data/stash => /media/videos", (PathMapping("/data/stash", "/media/videos"),)),
    ("/a=>/b;/c => /d", (PathMapping("/a", "/b"), PathMapping("/c", "/d"))),
    ("D:\\Videos => /mnt/videos\n/x => /y;", (PathMapping("D:\\Videos", "/mnt/videos"), PathMapping("/x", "/y"))),
    ("/with space/ => /plex dir/", (PathMapping("/with space/", "/plex dir/"),)),
])
def test_path_mappings_parsing(text, expected):
    assert parse_path_mappings(text) == expected
    assert PlexSyncConfig.from_stash({**REQUIRED, "path_mappings": text}).path_mappings == expected


@pytest.mark.parametrize("text", ["nonsense", "/a -> /b", "=> /b", "/a =>", "/a => /b; broken"])
def test_bad_path_mappings_named_in_error(text):
    with pytest.raises(ConfigError) as info:
        PlexSyncConfig.from_stash({**REQUIRED, "path_mappings": text})
    assert "'Path mappings'" in str(info.value)


_prefix = st.text(alphabet=st.characters(blacklist_characters=";\n\r=>", blacklist_categories=("Cs",)),
                  min_size=1, max_size=20).filter(lambda s: s.strip() and "=>" not in s)


@given(st.lists(st.tuples(_prefix, _prefix), max_size=5))
def test_property_path_mappings_round_trip(pairs):
    text = "; ".join(f"{a} => {b}" for a, b in pairs)
    parsed = parse_path_mappings(text)
    assert parsed == tuple(PathMapping(a.strip(), b.strip()) for a, b in pairs)

"""The watch-state settings: all off by default, opt-out ratings, the check interval."""

import pytest

from validation.config import SETTING_BY_FIELD, ConfigError, PlexSyncConfig

BASE = {"plex_url": "http://plex:32400", "plex_token": "abcdefgh12345678"}


def test_watch_state_is_off_for_existing_users():
    config = PlexSyncConfig.from_stash(BASE)
    assert (config.watch_pull, config.watch_push, config.watch_account, config.watch_interval) == (
        False, False, None, "off")
    assert config.watch_ratings is True   # follows once a direction is on


def test_display_names_as_stash_shows_them():
    names = {f: SETTING_BY_FIELD[f].display_name for f in
             ("watch_pull", "watch_push", "watch_account", "watch_interval", "watch_ratings")}
    assert names == {"watch_pull": "Bring Plex plays into Stash", "watch_push": "Send Stash plays to Plex",
                     "watch_account": "Plex account for plays", "watch_interval": "Watch-state check interval",
                     "watch_ratings": "Leave ratings out of watch state"}


def test_leave_ratings_out_is_an_opt_out_checkbox():
    config = PlexSyncConfig.from_stash({**BASE, "watch_no_ratings": True, "watch_pull": True})
    assert config.watch_ratings is False and config.watch_pull is True


@pytest.mark.parametrize("raw, want", [("15 min", "15min"), ("15min", "15min"), ("Hourly", "hourly"),
                                       ("", "off"), ("daily", "daily"), ("15 minutes", "15min")])
def test_interval_spellings(raw, want):
    assert PlexSyncConfig.from_stash({**BASE, "watch_interval": raw}).watch_interval == want


def test_bad_interval_names_the_setting():
    with pytest.raises(ConfigError) as caught:
        PlexSyncConfig.from_stash({**BASE, "watch_interval": "weekly"})
    assert "'Watch-state check interval'" in str(caught.value)


def test_blank_account_is_the_tokens_own():
    assert PlexSyncConfig.from_stash({**BASE, "watch_account": "  "}).watch_account is None
    assert PlexSyncConfig.from_stash({**BASE, "watch_account": " Alice "}).watch_account == "Alice"

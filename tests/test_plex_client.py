"""plex/client.py: PlexConnection over real plexapi against the Plex emulator over HTTP, and
translate_error: every fault becomes the right plex.exceptions class, carrying what the worker
needs (breaker, retry budget, server-given wait, setting to fix), never the token."""

from __future__ import annotations

import traceback
from typing import Callable

import pytest
import requests

from plex.client import PlexConnection, translate_error
from plex.exceptions import (
    ConfigurationError, PermanentError, PlexNotFound, PlexSyncError, PlexUnreachable, RateLimited,
)
from sandbox.plex_server import generate_items
from tests.sync_support import (  # noqa: F401  (fixture)
    EDIT, LISTING, METADATA, MOVIES, PLEX_TOKEN, plex_config, plex_emu,
)


class SessionRecorder:
    """A session factory that keeps the sessions PlexConnection asks for."""

    def __init__(self) -> None:
        self.sessions: list[requests.Session] = []

    def __call__(self) -> requests.Session:
        session = requests.Session()
        self.sessions.append(session)
        return session


@pytest.fixture
def conn(plex_emu):
    connection = PlexConnection(plex_config(plex_emu))
    yield connection
    connection.close()


def caught(call: Callable[[], object]) -> PlexSyncError:
    with pytest.raises(PlexSyncError) as info:
        call()
    return info.value


def assert_no_token(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)) + str(error) + repr(error.args)
    assert PLEX_TOKEN not in text


# ------------------------------------------------------------------------ construction
def test_constructing_makes_no_request(plex_emu):
    recorder = SessionRecorder()
    PlexConnection(plex_config(plex_emu), session_factory=recorder)
    assert plex_emu.requests == [] and recorder.sessions == []


def test_first_call_connects_once(plex_emu, conn):
    conn.all_sections()
    conn.all_sections()
    counts = plex_emu.request_counts()
    assert counts[("GET", "/")] == 1 and counts[("GET", "/library/sections")] == 2
    assert conn.request_count == 3


def test_token_travels_in_a_header_not_the_url(plex_emu, conn):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/a.mp4"])
    conn.load_item(str(key))
    conn.find_by_file(str(plex_emu.section_id), f"{MOVIES}/a.mp4")
    conn.edit(str(plex_emu.section_id), str(key), {"title.value": "B"})
    conn.upload_poster(str(key), b"\xff\xd8 not really a jpeg")
    # The emulator answers 401 without the token and counts every URL that carried it.
    assert [r.status for r in plex_emu.requests] == [200] * 5
    assert plex_emu.token_urls == 0


def test_tls_verification_is_on_by_default(plex_emu, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # else their bundle is the default
        monkeypatch.delenv(name, raising=False)
    recorder = SessionRecorder()
    conn = PlexConnection(plex_config(plex_emu), session_factory=recorder)
    conn.all_sections()
    assert [s.verify for s in recorder.sessions] == [True]


@pytest.mark.parametrize("overrides, verify", [({"verify_tls": False}, False), ({"ca_bundle": "ca.pem"}, "ca.pem")])
def test_tls_settings_reach_the_session(plex_emu, overrides, verify, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("unused: the emulator speaks http\n")
    recorder = SessionRecorder()
    conn = PlexConnection(plex_config(plex_emu, **overrides), session_factory=recorder)
    conn.server()
    assert recorder.sessions[0].verify == verify


# ------------------------------------------------------------------------------ faults
def test_plex_down_is_unreachable(plex_emu, conn):
    plex_emu.set_down(True)
    error = caught(conn.all_sections)
    assert type(error) is PlexUnreachable
    assert error.trips_breaker and not error.consumes_retry and error.retry_after is None
    assert "cannot connect" in error.message and "Plex server URL" in error.message
    assert_no_token(error)
    plex_emu.set_down(False)
    assert conn.all_sections()[0].title == "Movies"   # recovers once Plex is back


def test_down_while_connected(plex_emu, conn):
    conn.all_sections()
    plex_emu.set_down(True)
    error = caught(lambda: conn.load_item("1"))
    assert type(error) is PlexUnreachable
    assert_no_token(error)
    plex_emu.set_down(False)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unreachable(plex_emu, conn, status):
    conn.all_sections()
    plex_emu.fail_next(1, status)
    error = caught(conn.all_sections)
    assert type(error) is PlexUnreachable and str(status) in error.message
    assert error.trips_breaker and not error.consumes_retry
    assert_no_token(error)
    assert conn.all_sections()   # only the next request failed


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_on_connect(plex_emu, status):
    plex_emu.fail_next(1, status)
    conn = PlexConnection(plex_config(plex_emu))
    error = caught(conn.all_sections)
    assert type(error) is PlexUnreachable
    assert conn.all_sections()   # the next attempt connects


def test_rate_limit_carries_retry_after(plex_emu, conn):
    conn.all_sections()
    plex_emu.fail_next(1, 429, retry_after=7)
    error = caught(conn.all_sections)
    assert type(error) is RateLimited
    assert error.retry_after == 7.0
    # Slowing down is not an outage and not the job's fault.
    assert not error.trips_breaker and not error.consumes_retry and error.pauses_drain
    assert_no_token(error)


def test_dropped_connection_is_unreachable(plex_emu, conn):
    conn.all_sections()
    plex_emu.drop_next(1)
    error = caught(conn.all_sections)
    assert isinstance(error, PlexUnreachable)
    assert_no_token(error)


def test_wrong_token_is_a_configuration_error(plex_emu, conn):
    plex_emu.set_token("another-token-entirely-xyz")
    error = caught(conn.all_sections)
    assert type(error) is ConfigurationError
    assert error.setting == "Plex token" and "Plex token" in error.message and "401" in error.message
    assert not error.trips_breaker and not error.consumes_retry
    assert_no_token(error)


def test_token_revoked_while_connected(plex_emu, conn):
    conn.all_sections()
    plex_emu.set_token("another-token-entirely-xyz")
    error = caught(lambda: conn.load_item("1"))
    assert type(error) is ConfigurationError and error.setting == "Plex token"
    assert_no_token(error)


def test_slow_plex_times_out_as_unreachable(plex_emu):
    conn = PlexConnection(plex_config(plex_emu, read_timeout=0.2))
    conn.all_sections()
    plex_emu.set_latency(1.0)
    error = caught(conn.all_sections)
    assert type(error) is PlexUnreachable and "did not answer in time" in error.message
    assert error.trips_breaker and not error.consumes_retry
    assert_no_token(error)
    plex_emu.clear_faults()


def test_unknown_item_is_not_found(plex_emu, conn):
    error = caught(lambda: conn.load_item("99999"))
    assert type(error) is PlexNotFound
    assert not error.trips_breaker and error.budget_setting == "not_found_max_retries"
    assert_no_token(error)


def test_rejected_edit_is_permanent(plex_emu, conn):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/a.mp4"])
    error = caught(lambda: conn.edit(str(plex_emu.section_id), str(key), {"originallyAvailableAt.value": "2021-02-30"}))
    assert type(error) is PermanentError and "400" in error.message
    assert not error.trips_breaker and error.max_retries == 0
    assert_no_token(error)


def test_unknown_library_names_the_setting_and_the_choices(plex_emu):
    plex_emu.add_section("Clips", ["/clips"])
    conn = PlexConnection(plex_config(plex_emu, plex_libraries="Movies, Nope"))
    error = caught(conn.sections)
    assert type(error) is ConfigurationError and error.setting == "Plex libraries"
    assert "Nope" in error.message and "Movies, Clips" in error.message
    assert not error.trips_breaker and not error.consumes_retry


def test_library_names_match_case_insensitively_in_the_order_given(plex_emu):
    clips = plex_emu.add_section("Clips", ["/clips"])
    conn = PlexConnection(plex_config(plex_emu, plex_libraries="clips, MOVIES"))
    assert [s.id for s in conn.sections()] == [str(clips), str(plex_emu.section_id)]
    conn.sections()
    assert plex_emu.request_counts()[("GET", "/library/sections")] == 1   # cached


def test_without_libraries_every_movie_section(plex_emu):
    plex_emu.add_section("Shows", ["/shows"], type="show")
    other = plex_emu.add_section("More Movies", ["/more"])
    conn = PlexConnection(plex_config(plex_emu))
    assert [s.id for s in conn.sections()] == [str(plex_emu.section_id), str(other)]


def test_no_movie_section_is_a_configuration_error():
    from sandbox.plex_server import PlexServer
    with PlexServer(token=PLEX_TOKEN) as plex:
        plex.add_section("Shows", ["/shows"], type="show")
        error = caught(PlexConnection(plex_config(plex)).sections)
    assert type(error) is ConfigurationError and error.setting == "Plex libraries"


def test_empty_section_list_is_a_clear_error_not_a_crash(plex_emu, conn):
    # Found by mypy: query() returns None for an empty body and all_sections() read it as XML.
    conn.all_sections()
    plex_emu.fail_next(1, 200)   # 200 with an empty body: something other than Plex answering
    error = caught(conn.all_sections)
    assert type(error) is ConfigurationError and error.setting == "Plex server URL"
    assert_no_token(error)


def test_tls_failure_is_classified_by_its_ssl_cause_never_by_its_text():
    # The text says "certificate verify failed", but no ssl exception says so: no CA advice.
    error = translate_error(requests.exceptions.SSLError("certificate verify failed"), None, "Plex at https://x")
    assert type(error) is ConfigurationError and error.setting == "Plex server URL"


def test_unrelated_exceptions_are_not_translated():
    assert translate_error(KeyError("x"), None, "Plex at http://x") is None


# ----------------------------------------------------------------------------- calls
def test_list_section_pages_through_everything(plex_emu, conn):
    plex_emu.add_items(plex_emu.section_id, generate_items(2500, MOVIES))
    conn.server()
    plex_emu.reset_requests()
    items = list(conn.list_section(str(plex_emu.section_id), page_size=1000))
    assert len(items) == 2500 and len({i.rating_key for i in items}) == 2500
    assert {i.files[0] for i in items} == {f"{MOVIES}/Movie {n:06d}/movie-{n:06d}.mkv" for n in range(1, 2501)}
    assert plex_emu.request_counts() == {LISTING: 3}   # no hidden per-item reloads


def test_list_section_asks_for_the_next_page_before_handing_out_this_one():
    import threading

    from sandbox.plex_server import PlexServer

    arrived: list[float] = []
    second_page = threading.Event()

    def sleep(seconds: float) -> None:   # the emulator's latency hook: called for each request, before its answer
        arrived.append(seconds)
        if len(arrived) == 5:            # GET /, sections... then the 2nd listing page (see below)
            second_page.set()

    with PlexServer(token=PLEX_TOKEN, latency=0.0001, sleep=sleep) as plex:
        section = plex.add_section("Movies", [MOVIES])
        plex.add_items(section, generate_items(25, MOVIES))
        conn = PlexConnection(plex_config(plex))
        try:
            conn.all_sections()          # GET / and /library/sections: requests 1-2
            conn.all_sections()          # request 3
            pages = conn.list_section(str(section), page_size=10)
            first = next(pages)          # page 1 (request 4) read; page 2 asked for before it is handed out
            assert second_page.wait(timeout=30)
            assert len([first, *pages]) == 25 and plex.request_counts()[LISTING] == 3
        finally:
            conn.close()


def test_list_section_stopped_early_leaves_nothing_running(plex_emu, conn):
    plex_emu.add_items(plex_emu.section_id, generate_items(25, MOVIES))
    pages = conn.list_section(str(plex_emu.section_id), page_size=10)
    assert next(pages).rating_key
    pages.close()
    conn.close()     # waits for the reader thread: returns, so nothing hangs
    assert plex_emu.request_counts()[LISTING] <= 2


def test_list_section_of_an_empty_section(plex_emu, conn):
    assert list(conn.list_section(str(plex_emu.section_id))) == []


def test_find_by_file_is_loose_callers_check_exactly(plex_emu, conn):
    wanted = f"{MOVIES}/Clip/clip.mp4"
    key = plex_emu.add_item(plex_emu.section_id, "Clip", [wanted])
    plex_emu.add_item(plex_emu.section_id, "Copy", [f"{MOVIES}/clip/CLIP.mp4.orig"])
    found = conn.find_by_file(str(plex_emu.section_id), wanted)
    assert len(found) == 2
    assert [i.rating_key for i in found if wanted in i.files] == [str(key)]


def test_find_by_file_with_awkward_characters(plex_emu, conn):
    path = f"{MOVIES}/Rock & Roll, Part 2/100% “Real” #1 ?.mp4"
    key = plex_emu.add_item(plex_emu.section_id, "Odd", [path])
    assert [i.rating_key for i in conn.find_by_file(str(plex_emu.section_id), path)] == [str(key)]


def test_scan_requests_a_partial_scan_of_one_folder(plex_emu, conn):
    key = plex_emu.add_item(plex_emu.section_id, "New", [f"{MOVIES}/New Folder/new.mp4"], scanned=False)
    with pytest.raises(PlexNotFound):
        conn.load_item(str(key))
    conn.scan(str(plex_emu.section_id), f"{MOVIES}/New Folder")
    assert plex_emu.scan_requests == [f"{MOVIES}/New Folder"]
    assert conn.load_item(str(key)).files == (f"{MOVIES}/New Folder/new.mp4",)


def test_edit_is_one_put_and_upload_one_post(plex_emu, conn):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/a.mp4"])
    conn.server()
    plex_emu.reset_requests()
    conn.edit(str(plex_emu.section_id), str(key), {"title.value": "B & C", "title.locked": 1,
                                                    "genre[0].tag.tag": "X, Y"})
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 100
    conn.upload_poster(str(key), jpeg)
    assert plex_emu.request_counts() == {EDIT: 1, ("POST", "/library/metadata/{key}/posters"): 1}
    item = plex_emu.item(key)
    assert (item["title"], item["genres"], "title" in item["locked"]) == ("B & C", ["X, Y"], True)
    assert item["poster"]["size"] == len(jpeg) and item["poster"]["source"] == "upload"


def test_load_item_reads_the_full_item(plex_emu, conn):
    actors = [f"Actor {n}" for n in range(8)]
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/a.mp4"], actors=actors, locked=["actor"])
    state = conn.load_item(str(key))
    assert state.tags["actor"] == tuple(actors)     # not a listing's truncated list
    assert state.locked == {"actor"}
    assert plex_emu.request_counts()[METADATA] == 1

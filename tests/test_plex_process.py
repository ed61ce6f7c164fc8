"""sandbox/plex_process.py: the Plex emulator in a process of its own (benches), driven
like the in-process one — methods, attributes, generators — and reached by real plexapi."""

from __future__ import annotations

from plex.client import PlexConnection
from sandbox.plex_process import PlexProcess
from tests.sync_support import EDIT, plex_config


def test_the_emulator_in_its_own_process_serves_and_answers_like_the_in_process_one():
    plex = PlexProcess()
    try:
        plex.start()
        section = plex.add_section("Movies", ["/plex/movies"])
        keys = plex.add_items(section, ({"title": f"Movie {n}", "files": [f"/plex/movies/m{n}.mp4"]}
                                        for n in range(3)))      # a generator crosses as a list
        plex.latency = 0.001                                     # attributes are set in the child
        assert plex.latency == 0.001 and plex.url.startswith("http://127.0.0.1:")
        conn = PlexConnection(plex_config(plex))
        try:
            conn.edit(str(section), str(keys[0]), {"title.value": "Renamed"})
        finally:
            conn.close()
        assert plex.item(keys[0])["title"] == "Renamed"
        assert plex.request_counts()[EDIT] == 1 and plex.cpu_seconds() > 0
    finally:
        plex.stop()

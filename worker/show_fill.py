"""'Fill in shows from studios': a TV show whose episodes are all Stash scenes of one
studio gets that studio's name, genres from its scenes' tags, and the studio's image.

:func:`show_metadata` decides (pure). :class:`ShowFill` is the handler of the
``fill_show`` job, which the scene sync queues once per show per drain after writing one
of its episodes: it lists the show's episodes (one request), checks that every one was
written from a Stash scene by PlexSync (a show with any other episode is not ours and is
left alone), reads those scenes (one query), and writes the show like a scene's item —
only the differences, in one edit, plus the poster when the studio's image changed.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Sequence

from plex.client import PlexConnection
from plex.desired import DesiredMetadata, sync_fingerprint
from plex.diff import edit_params, edit_request
from plex.exceptions import PermanentError, StashRejected, StashUnavailable
from plex.media_types import SHOW
from shared.defaults import MAX_POSTER_BYTES
from shared.log import create_logger
from stash.client import StashAuthError, StashError, StashUnreachable
from worker.mapping import excluded, plex_text
from worker.sync import image_kind
from worker.sync_state import SyncState

if TYPE_CHECKING:
    from stash.client import StashClient
    from validation.config import PlexSyncConfig

log_trace, log_debug, log_info, log_warn, log_error = create_logger("show_fill")


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    # Plex matches tags case-insensitively: the first spelling wins.
    seen: set[str] = set()
    out = []
    for name in names:
        if name.strip() and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return tuple(out)


def show_metadata(scenes: Sequence[dict[str, Any]], *, tag_exclude: tuple[str, ...] = (),
                  ) -> tuple[DesiredMetadata | None, str]:
    """What a show should show when ``scenes`` are all of its episodes' scenes: the studio's
    name and the union of the scenes' tags (first spelling, in order of appearance), or
    ``None`` and why not (no scenes, a scene without a studio, several studios)."""
    if not scenes:
        return None, "it has no episodes"
    studios = {(s.get("studio") or {}).get("id") for s in scenes}
    if None in studios or len(studios) != 1:
        return None, "its episodes are not all scenes of one studio"
    names = [plex_text(t.get("name")) for s in scenes for t in s.get("tags") or []]
    genres = tuple(n for n in _unique(names) if not excluded(n, tag_exclude))
    studio = plex_text(scenes[0]["studio"].get("name"))
    # Nothing on a show is shared with Plex users here: the show is entirely ours.
    return DesiredMetadata(scalars={"studio": studio}, tags={"genre": genres}, shared_kinds=frozenset()), ""


class ShowFill:
    """The ``fill_show`` handler (see the module docstring)."""

    def __init__(self, config: PlexSyncConfig, stash: StashClient, data_dir: str,
                 plex: PlexConnection | None = None) -> None:
        self.config = config
        self.stash = stash
        self.data_dir = data_dir
        self._plex = plex
        self._state: SyncState | None = None

    @property
    def plex(self) -> PlexConnection:
        if self._plex is None:
            self._plex = PlexConnection(self.config)
        return self._plex

    @property
    def state(self) -> SyncState:
        if self._state is None:
            self._state = SyncState(self.data_dir)
        return self._state

    def close(self) -> None:
        """Release files and connections."""
        if self._plex is not None:
            self._plex.close()
        if self._state is not None:
            self._state.close()

    def __call__(self, job: dict[str, Any]) -> str:
        data = job.get("data") or {}
        show_key, section_id = str(data.get("show") or ""), str(data.get("section") or "")
        if not show_key:
            raise PermanentError("a show fill without a show")
        episodes = self.plex.show_episodes(show_key)
        owners = [self.state.owner(e.rating_key) for e in episodes]
        if not episodes or None in owners:
            log_debug(f"Show {show_key}: not every episode is a synced Stash scene; left alone")
            return "not_ours"
        scene_ids = sorted({int(o) for o in owners if o is not None})
        scenes = self._scenes(scene_ids)
        if len(scenes) != len(scene_ids):
            return "not_ours"
        desired, why = show_metadata(scenes, tag_exclude=self.config.tag_exclude)
        if desired is None:
            log_debug(f"Show {show_key}: {why}; left alone")
            return "not_ours"
        image, sha = self._studio_image(str(scenes[0]["studio"]["id"]))
        fingerprint = sync_fingerprint(desired, sha, self.config.lock_fields)
        known = self.state.show(show_key)
        if known is not None and known[0] == fingerprint:
            return "unchanged"
        current = self.plex.load_item(show_key)
        if current.media_type != SHOW.name:
            raise PermanentError(f"Plex item {show_key} is a {current.media_type}, not a show")
        changes = edit_params(current, desired, lock=self.config.lock_fields, media=SHOW)
        upload = image is not None and (known is None or known[1] != sha)
        if upload:
            assert image is not None
            self.plex.upload_poster(show_key, image)
        request = edit_request(SHOW, show_key, changes, lock=self.config.lock_fields, poster_uploaded=upload)
        if request:
            self.plex.send_edit(section_id or current.section_id, request)
        self.state.put_show(show_key, fingerprint, sha)
        log_info(f"Show '{current.scalars.get('title', show_key)}': filled in from studio "
                 f"'{desired.scalars['studio']}' ({len(episodes)} episodes)")
        return "written"

    def _scenes(self, scene_ids: list[int]) -> list[dict[str, Any]]:
        try:
            return self.stash.find_scenes_by_id(scene_ids)
        except (StashUnreachable, StashAuthError) as exc:
            raise StashUnavailable(f"lost Stash while reading a show's scenes: {exc}") from None
        except StashError as exc:
            raise StashRejected(f"Stash could not give a show's scenes: {exc}") from None

    def _studio_image(self, studio_id: str) -> tuple[bytes | None, str | None]:
        """The studio's image and its hash; ``(None, None)`` when it has none (Stash's
        placeholder) or it is not a picture, so the show's poster is left alone."""
        try:
            studio = self.stash.find_studio(studio_id) or {}
            url = studio.get("image_path") or ""
            if not url or "default=true" in url:
                return None, None
            data, content_type = self.stash.fetch(url)
        except (StashUnreachable, StashAuthError) as exc:
            raise StashUnavailable(f"lost Stash while reading studio {studio_id}: {exc}") from None
        except StashError as exc:
            log_warn(f"Studio {studio_id}: image not available from Stash ({exc}); show poster left as is")
            return None, None
        if image_kind(data) is None or not content_type.startswith("image/") or len(data) > MAX_POSTER_BYTES:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

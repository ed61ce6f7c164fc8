"""XML rendering for the Plex Media Server emulator (``sandbox/plex_server.py``).

Every function here is pure: it turns the emulator's in-memory objects into the
bytes a real PMS would send, shaped like the captured responses in
``../shared/fixtures/plex/`` (``MediaContainer`` attributes, ``Video`` with
``Media/Part`` nested the way a real server nests them, tag elements, ``Field``
locks, the ``Meta`` block ``includeMeta=1`` asks for).

Items and sections are read by duck typing; the attributes used are those of
``plex_library.Item`` and ``plex_library.Section``.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable
from urllib.parse import quote

MEDIA_TAG_PREFIX = "/system/bundle/media/flags/"
MEDIA_TAG_VERSION = "1700000000"
LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
CONTENT_TYPE = "text/xml;charset=utf-8"

# Tag kinds: edit name (as in ``genre[0].tag.tag``) -> XML element.
TAG_ELEMENTS = {
    "genre": "Genre",
    "country": "Country",
    "collection": "Collection",
    "director": "Director",
    "writer": "Writer",
    "producer": "Producer",
    "actor": "Role",
    "label": "Label",
}
# How many tags of each kind a listing (``/library/sections/{id}/all``) carries;
# kinds absent here are left out of listings, as in library_movies_all.xml.
LISTING_TAG_LIMITS = {"genre": 2, "country": 1, "director": 1, "writer": 1, "producer": 1, "actor": 3}

_ATTR_ESCAPES = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
    "\n": "&#10;", "\r": "&#13;", "\t": "&#9;",
})
# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def attr(value: object) -> str:
    """Escape one attribute value (newlines become ``&#10;`` so they survive parsing)."""
    text = str(value)
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("", text)
    return text.translate(_ATTR_ESCAPES)


def attrs(pairs: Iterable[tuple[str, object]]) -> str:
    """Render ``name="value"`` pairs, leaving out ``None`` and empty values as PMS does."""
    return "".join(f' {k}="{attr(v)}"' for k, v in pairs if v is not None and v != "")


def container(attributes: Iterable[tuple[str, object]], body: str = "") -> bytes:
    """Wrap ``body`` in a ``MediaContainer`` and encode it as a complete document."""
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer{attrs(attributes)}'
    text = f"{head}>\n{body}</MediaContainer>\n" if body else f"{head} />\n"
    return text.encode("utf-8")


def error_page(status: int, phrase: str) -> bytes:
    """The small HTML page PMS sends with error statuses."""
    return (f"<html><head><title>{phrase}</title></head>"
            f"<body><h1>{status} {phrase}</h1></body></html>").encode("utf-8")


# --------------------------------------------------------------------- server

_ROOT_DIRECTORIES = (
    "activities", "butler", "channels", "clients", "devices", "diagnostics", "hubs",
    "library", "livetv", "media", "metadata", "neighborhood", "playQueues", "player",
    "playlists", "resources", "search", "server", "servers", "statistics", "system",
    "transcode", "updater", "user",
)


def render_root(name: str, machine_id: str, version: str, updated_at: int) -> bytes:
    """``GET /``: server identity and capabilities (cf. plex_server_base.xml)."""
    flags = ("allowCameraUpload", "allowChannelAccess", "allowMediaDeletion", "allowSharing",
             "allowSync", "backgroundProcessing", "certificate", "companionProxy", "eventStream",
             "hubSearch", "itemClusters", "mediaProviders", "multiuser", "myPlex",
             "myPlexSubscription", "offlineTranscode", "photoAutoTag", "pluginHost",
             "requestParametersInCookie", "sync", "transcoderAudio", "transcoderLyrics",
             "transcoderPhoto", "transcoderSubtitles", "transcoderVideo", "updater", "voiceSearch")
    pairs = [("size", len(_ROOT_DIRECTORIES))] + [(f, 1) for f in flags] + [
        ("countryCode", "usa"),
        ("diagnostics", "logs,databases,streaminglogs"),
        ("friendlyName", name),
        ("livetv", 7),
        ("machineIdentifier", machine_id),
        ("myPlexMappingState", "mapped"),
        ("myPlexSigninState", "ok"),
        ("myPlexUsername", "sandbox@example.invalid"),
        ("ownerFeatures", "collections,content_filter,federated-auth,server-manager,webhooks"),
        ("platform", "Linux"),
        ("platformVersion", "6.1.0"),
        ("pushNotifications", 0),
        ("readOnlyLibraries", 0),
        ("streamingBrainABRVersion", 3),
        ("streamingBrainVersion", 2),
        ("transcoderActiveVideoSessions", 0),
        ("transcoderVideoBitrates", "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000"),
        ("transcoderVideoQualities", "0,1,2,3,4,5,6,7,8,9,10,11,12"),
        ("transcoderVideoResolutions", "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080"),
        ("updatedAt", updated_at),
        ("version", version),
    ]
    body = "".join(f'<Directory count="1" key="{d}" title="{d}" />\n' for d in _ROOT_DIRECTORIES)
    return container(pairs, body)


def render_identity(machine_id: str, version: str) -> bytes:
    """``GET /identity`` (answered without a token by real servers too)."""
    return container([("size", 0), ("claimed", 1), ("machineIdentifier", machine_id), ("version", version)])


def render_library() -> bytes:
    """``GET /library``."""
    body = ('<Directory key="sections" title="Library Sections" />\n'
            '<Directory key="recentlyAdded" title="Recently Added Content" />\n'
            '<Directory key="onDeck" title="On Deck Content" />\n')
    return container([("size", 3), ("allowSync", 0), ("art", "/:/resources/library-art.jpg"),
                      ("content", "library"), ("identifier", LIBRARY_IDENTIFIER),
                      ("mediaTagPrefix", MEDIA_TAG_PREFIX), ("mediaTagVersion", MEDIA_TAG_VERSION),
                      ("title1", "Plex Library"), ("title2", "")], body)


_SECTION_ART = {"movie": "movie", "show": "show", "artist": "artist", "photo": "photo"}


def render_sections(sections: Iterable) -> bytes:
    """``GET /library/sections``: one ``Directory`` per section with ``Location`` children."""
    parts = []
    for s in sections:
        agent, scanner, art = s.agent, s.scanner, _SECTION_ART.get(s.type, "movie")
        pairs = [("allowSync", 1), ("art", f"/:/resources/{art}-fanart.jpg"),
                 ("composite", f"/library/sections/{s.id}/composite/{s.scanned_at}"),
                 ("filters", 1), ("refreshing", 0), ("thumb", f"/:/resources/{art}.png"),
                 ("key", s.id), ("type", s.type), ("title", s.title), ("agent", agent),
                 ("scanner", scanner), ("language", "xn"), ("uuid", s.uuid),
                 ("updatedAt", s.updated_at), ("createdAt", s.created_at), ("scannedAt", s.scanned_at),
                 ("content", 1), ("directory", 1), ("contentChangedAt", s.updated_at), ("hidden", 0)]
        locations = "".join(f'<Location id="{lid}" path="{attr(p)}" />\n' for lid, p in s.locations)
        parts.append(f"<Directory{attrs(pairs)}>\n{locations}</Directory>\n")
    return container([("size", len(parts)), ("allowSync", 0), ("identifier", LIBRARY_IDENTIFIER),
                      ("mediaTagPrefix", MEDIA_TAG_PREFIX), ("mediaTagVersion", MEDIA_TAG_VERSION),
                      ("title1", "Plex Library")], "".join(parts))


# ---------------------------------------------------------------------- items

_VIDEO_SCALARS = ("audienceRating", "contentRating", "editionTitle", "originalTitle",
                  "originallyAvailableAt", "rating", "studio", "summary", "tagline",
                  "title", "titleSort", "userRating", "year")


def section_attrs(section) -> list[tuple[str, object]]:
    """``MediaContainer`` attributes naming the section the items come from."""
    return [("allowSync", 1), ("identifier", LIBRARY_IDENTIFIER),
            ("librarySectionID", section.id), ("librarySectionTitle", section.title),
            ("librarySectionUUID", section.uuid), ("mediaTagPrefix", MEDIA_TAG_PREFIX),
            ("mediaTagVersion", MEDIA_TAG_VERSION)]


def watch_attrs(watch) -> list[tuple[str, object]]:
    """The presenting account's watch attributes of a ``<Video>`` (a ``plex_watch.Watch``),
    each left out while unset or zero, as PMS leaves them out."""
    pairs: list[tuple[str, object]] = [
        ("viewCount", watch.view_count or None), ("viewOffset", watch.view_offset or None),
        ("lastViewedAt", watch.last_viewed_at), ("lastRatedAt", watch.last_rated_at),
        ("userRating", None if watch.user_rating is None else f"{watch.user_rating:g}")]
    return pairs


def _parent_attrs(item, parents) -> list[tuple[str, object]]:
    """An episode's (or season's) links up: its season and show, as PMS names them."""
    if item.type == "season":
        show = parents
        return [("parentKey", f"/library/metadata/{show.rating_key}"), ("parentRatingKey", show.rating_key),
                ("parentTitle", show.scalars.get("title")), ("index", item.index)]
    season, show = parents
    return [("grandparentKey", f"/library/metadata/{show.rating_key}"), ("grandparentRatingKey", show.rating_key),
            ("grandparentTitle", show.scalars.get("title")),
            ("grandparentThumb", f"/library/metadata/{show.rating_key}/thumb/{show.thumb_version}"),
            ("parentKey", f"/library/metadata/{season.rating_key}"), ("parentRatingKey", season.rating_key),
            ("parentTitle", season.scalars.get("title")), ("parentIndex", season.index), ("index", item.index)]


# Tag kinds a show or season carries (what plexapi's Show/Season edit mixins edit, and the cast).
_DIRECTORY_TAGS = {"show": ("genre", "collection", "label", "actor"), "season": ("collection", "label")}


def render_directory(item, section, full: bool, tag_id: Callable[[str, str], int], parents=None,
                     leaf_count: int = 0, child_count: int = 0) -> str:
    """One show or season ``<Directory>`` (its key is its children's, as PMS gives it)."""
    key = item.rating_key
    s = item.scalars
    pairs = [("addedAt", item.added_at), ("guid", item.guid), ("key", f"/library/metadata/{key}/children"),
             ("librarySectionID", section.id), ("librarySectionKey", f"/library/sections/{section.id}"),
             ("librarySectionTitle", section.title), ("ratingKey", key),
             ("thumb", f"/library/metadata/{key}/thumb/{item.thumb_version}"), ("type", item.type),
             ("updatedAt", item.updated_at), ("leafCount", leaf_count), ("childCount", child_count)]
    if item.type == "show":
        pairs.append(("index", 1))
    if item.art_version:
        pairs.append(("art", f"/library/metadata/{key}/art/{item.art_version}"))
    if parents is not None:
        pairs += _parent_attrs(item, parents)
    pairs += [(name, s.get(name)) for name in _VIDEO_SCALARS]
    pairs.sort()
    out = [f"<Directory{attrs(pairs)}>\n"]
    for kind in _DIRECTORY_TAGS.get(item.type, ()):
        out.extend(_tag_elements(item, kind, TAG_ELEMENTS[kind], full, tag_id))
    if full:
        out.extend(f'<Field locked="1" name="{attr(n)}" />\n' for n in sorted(item.locked))
    out.append("</Directory>\n")
    return "".join(out)


def _tag_elements(item, kind: str, element: str, full: bool, tag_id: Callable[[str, str], int]) -> list[str]:
    """An item's tags of one kind as elements: all of them, or as many as a listing shows."""
    names = item.tags.get(kind) or ()
    if not full:
        names = names[:LISTING_TAG_LIMITS.get(kind, 0)]
    return [f'<{element} id="{tag_id(kind, name)}" filter="{kind}={tag_id(kind, name)}" tag="{attr(name)}" />\n'
            for name in names]


def render_video(item, section, full: bool, tag_id: Callable[[str, str], int],
                 exclude_elements: frozenset = frozenset(), exclude_fields: frozenset = frozenset(),
                 watch=None, parents=None) -> str:
    """One ``<Video>``: the full item (all tags, ``Field`` locks) or a listing's partial one.

    ``tag_id(kind, name)`` gives the server-wide id of a tag, used for ``id`` and ``filter``.
    ``exclude_elements``/``exclude_fields`` honour PMS's ``excludeElements``/``excludeFields``.
    ``watch``: the presenting account's state (its ``userRating`` replaces the item's).
    ``parents``: an episode's (season, show) items.
    """
    key = item.rating_key
    s = item.scalars
    pairs = [("addedAt", item.added_at)]
    if watch is not None:
        pairs += [(n, v) for n, v in watch_attrs(watch) if n not in exclude_fields]
        exclude_fields = exclude_fields | {"userRating"}
    if item.art_version:
        pairs.append(("art", f"/library/metadata/{key}/art/{item.art_version}"))
    pairs += [("duration", item.duration), ("guid", item.guid), ("key", f"/library/metadata/{key}"),
              ("librarySectionID", section.id), ("librarySectionKey", f"/library/sections/{section.id}"),
              ("librarySectionTitle", section.title), ("ratingKey", key),
              ("thumb", f"/library/metadata/{key}/thumb/{item.thumb_version}"), ("type", item.type),
              ("updatedAt", item.updated_at)]
    if parents is not None:
        pairs += _parent_attrs(item, parents)
    pairs += [(name, s.get(name)) for name in _VIDEO_SCALARS if name not in exclude_fields]
    pairs.sort()
    out = [f"<Video{attrs(pairs)}>\n"]
    if "Media" not in exclude_elements:
        out.append(_render_media(item))
    for kind, element in TAG_ELEMENTS.items():
        if element not in exclude_elements:
            out.extend(_tag_elements(item, kind, element, full, tag_id))
    if full and "Field" not in exclude_elements:
        out.extend(f'<Field locked="1" name="{attr(n)}" />\n' for n in sorted(item.locked))
    out.append("</Video>\n")
    return "".join(out)


def render_history(plays, items: dict) -> str:
    """The rows of ``/status/sessions/history/all``: one ``<Video>`` per play, newest or
    oldest first as asked; a play of a deleted item keeps its ids but no title."""
    out = []
    for play in plays:
        it = items.get(play.rating_key)
        title = it.scalars.get("title") if it is not None else None
        thumb = f"/library/metadata/{play.rating_key}/thumb/{it.thumb_version}" if it is not None else None
        pairs = [("historyKey", f"/status/sessions/history/{play.id}"),
                 ("key", f"/library/metadata/{play.rating_key}"), ("ratingKey", play.rating_key),
                 ("librarySectionID", play.section_id), ("title", title), ("type", "movie"), ("thumb", thumb),
                 ("originallyAvailableAt", it.scalars.get("originallyAvailableAt") if it is not None else None),
                 ("viewedAt", play.viewed_at), ("accountID", play.account_id), ("deviceID", play.device_id)]
        out.append(f"<Video{attrs(pairs)} />\n")
    return "".join(out)


def render_accounts(accounts: Iterable[tuple[int, str]]) -> bytes:
    """``GET /accounts``: the server's system accounts (id 0, nameless, is PMS's own)."""
    rows = [f'<Account{attrs([("id", str(aid)), ("key", f"/accounts/{aid}"), ("name", name)])} '
            f'defaultAudioLanguage="en" autoSelectAudio="1" defaultSubtitleLanguage="en" subtitleMode="1" />\n'
            for aid, name in accounts]
    return container([("size", len(rows)), ("identifier", "com.plexapp.system.accounts")], "".join(rows))


def _render_media(item) -> str:
    """``<Media>`` with one ``<Part>`` per file (several parts = a stacked multi-part movie)."""
    first = item.parts[0][1]
    ext = first.rsplit(".", 1)[-1].lower() if "." in first.rsplit("/", 1)[-1] else "mkv"
    per_part = item.duration // max(len(item.parts), 1) if item.duration else None
    media = [("id", item.media_id), ("duration", item.duration), ("bitrate", 8000), ("width", 1920),
             ("height", 1080), ("aspectRatio", "1.78"), ("audioChannels", 2), ("audioCodec", "aac"),
             ("audioProfile", "lc"),
             ("videoCodec", "h264"), ("videoResolution", "1080"), ("container", ext),
             ("videoFrameRate", "24p"), ("videoProfile", "high")]
    out = [f"<Media{attrs(media)}>\n"]
    for part_id, path, size in item.parts:
        part = [("id", part_id), ("key", f"/library/parts/{part_id}/{item.added_at}/file.{ext}"),
                ("duration", per_part), ("file", path), ("size", size), ("container", ext),
                ("audioProfile", "lc"), ("videoProfile", "high")]
        out.append(f"<Part{attrs(part)} />\n")
    out.append("</Media>\n")
    return "".join(out)


def render_photos(rating_key: int, images: Iterable, element: str = "Photo") -> bytes:
    """``GET /library/metadata/{key}/posters`` (or ``/arts``): the uploaded images, newest selected."""
    body = []
    for image in images:
        url = f"/library/metadata/{rating_key}/file?url={_quote(image.rating_key)}"
        pairs = [("key", url), ("ratingKey", image.rating_key),
                 ("selected", 1 if image.selected else 0), ("thumb", url)]
        body.append(f"<{element}{attrs(pairs)} />\n")
    return container([("size", len(body)), ("identifier", LIBRARY_IDENTIFIER),
                      ("mediaTagPrefix", MEDIA_TAG_PREFIX), ("mediaTagVersion", MEDIA_TAG_VERSION)],
                     "".join(body))


def _quote(text: str) -> str:
    return quote(text, safe="")


def render_filter_choices(section, kind: str, choices: Iterable[tuple[object, str]]) -> bytes:
    """``GET /library/sections/{id}/{genre|label|…}``: the values a tag filter can take."""
    rows = [f'<Directory fastKey="/library/sections/{section.id}/all?{kind}={attr(_quote(str(key)))}" '
            f'key="{attr(key)}" title="{attr(name)}" type="{kind}" />\n' for key, name in choices]
    return container([("size", len(rows)), ("allowSync", 0), ("content", "secondary"),
                      ("identifier", LIBRARY_IDENTIFIER), ("mediaTagPrefix", MEDIA_TAG_PREFIX),
                      ("mediaTagVersion", MEDIA_TAG_VERSION), ("title1", section.title),
                      ("title2", kind), ("viewGroup", "secondary")], "".join(rows))


# ----------------------------------------------------------------------- Meta
# Filters, sorts and fields a movie section advertises (same vocabulary as
# library_movies_metadata.xml). Filter: (filter, filterType, title).

_FILTERS = (
    ("genre", "string", "Genre"), ("year", "integer", "Year"), ("decade", "integer", "Decade"),
    ("contentRating", "string", "Content Rating"), ("collection", "string", "Collection"),
    ("director", "string", "Director"), ("actor", "string", "Actor"), ("writer", "string", "Writer"),
    ("producer", "string", "Producer"), ("country", "string", "Country"), ("studio", "string", "Studio"),
    ("resolution", "string", "Resolution"), ("hdr", "boolean", "HDR"), ("unwatched", "boolean", "Unplayed"),
    ("inProgress", "boolean", "In Progress"), ("unmatched", "boolean", "Unmatched"),
    ("audioLanguage", "string", "Audio Language"), ("subtitleLanguage", "string", "Subtitle Language"),
    ("label", "string", "Labels"),
)
# Sort: (key, defaultDirection, title); the first is the active default.
_SORTS = (
    ("titleSort", "asc", "Title"), ("year", "desc", "Year"),
    ("originallyAvailableAt", "desc", "Release Date"), ("rating", "desc", "Critic Rating"),
    ("audienceRating", "desc", "Audience Rating"), ("userRating", "desc", "Rating"),
    ("contentRating", "desc", "Content Rating"), ("duration", "desc", "Duration"),
    ("viewOffset", "desc", "Progress"), ("viewCount", "desc", "Plays"), ("addedAt", "desc", "Date Added"),
    ("lastViewedAt", "desc", "Date Viewed"), ("mediaHeight", "asc", "Resolution"),
    ("mediaBitrate", "desc", "Bitrate"), ("random", "desc", "Randomly"),
)
# Field: (key, title, type, subType).
_FIELDS = (
    ("title", "Title", "string", None), ("studio", "Studio", "string", None),
    ("userRating", "Rating", "integer", "rating"), ("contentRating", "Content Rating", "tag", None),
    ("year", "Year", "integer", "year"), ("decade", "Decade", "integer", "decade"),
    ("originallyAvailableAt", "Release Date", "date", None),
    ("duration", "Duration", "integer", "duration"), ("unmatched", "Unmatched", "boolean", None),
    ("duplicate", "Duplicate", "boolean", None), ("genre", "Genre", "tag", None),
    ("collection", "Collection", "tag", None), ("director", "Director", "tag", None),
    ("writer", "Writer", "tag", None), ("producer", "Producer", "tag", None),
    ("actor", "Actor", "tag", None), ("country", "Country", "tag", None),
    ("addedAt", "Date Added", "date", None), ("viewCount", "Plays", "integer", None),
    ("lastViewedAt", "Last Played", "date", None), ("unwatched", "Unplayed", "boolean", None),
    ("resolution", "Resolution", "resolution", None), ("hdr", "HDR", "boolean", "hdr"),
    ("mediaSize", "File Size", "integer", "fileSize"), ("mediaBitrate", "Bitrate", "integer", "bitrate"),
    ("subtitleLanguage", "Subtitle Language", "subtitleLanguage", None),
    ("audioLanguage", "Audio Language", "audioLanguage", None),
    ("inProgress", "In Progress", "boolean", None), ("trash", "Trash", "boolean", None),
    ("label", "Label", "tag", None),
)
_FIELD_TYPES = (
    ("tag", (("=", "is"), ("!=", "is not"))),
    ("integer", (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than"))),
    ("string", (("=", "contains"), ("!=", "does not contain"), ("==", "is"), ("!==", "is not"),
                ("<=", "begins with"), (">=", "ends with"))),
    ("boolean", (("=", "is true"), ("!=", "is false"))),
    ("date", (("<<=", "is before"), (">>=", "is after"))),
    ("subtitleLanguage", (("=", "is"), ("!=", "is not"))),
    ("audioLanguage", (("=", "is"), ("!=", "is not"))),
    ("resolution", (("=", "is"),)),
)
FILTER_TYPES = {f: t for f, t, _ in _FILTERS}
FIELD_TYPES = {k: t for k, _, t, _ in _FIELDS}
SORT_KEYS = tuple(k for k, _, _ in _SORTS)


def render_meta(section_id: int) -> str:
    """The ``<Meta>`` block of ``/library/sections/{id}/all?includeMeta=1``."""
    sid = section_id
    out = ['<Meta>\n', f'<Type key="/library/sections/{sid}/all?type=1" type="movie" title="Movies" active="1">\n']
    for flt, ftype, title in _FILTERS:
        out.append(f'<Filter filter="{flt}" filterType="{ftype}" key="/library/sections/{sid}/{flt}" '
                   f'title="{title}" type="filter" />\n')
    out.append('<Filter filter="duplicate" filterType="boolean" '
               f'key="/library/sections/{sid}/duplicate" title="Duplicates" type="filter" advanced="1" />\n')
    for i, (key, direction, title) in enumerate(_SORTS):
        active = (' active="1" activeDirection="asc" default="asc"' if i == 0 else "")
        first_char = f' firstCharacterKey="/library/sections/{sid}/firstCharacter"' if i == 0 else ""
        out.append(f'<Sort{active} defaultDirection="{direction}" descKey="{key}:desc"{first_char} '
                   f'key="{key}" title="{title}" />\n')
    for key, title, ftype, sub in _FIELDS:
        out.append(f'<Field key="{key}"{attrs([("subType", sub)])} title="{title}" type="{ftype}" />\n')
    out.append("</Type>\n")
    out.append(f'<Type key="/library/sections/{sid}/folder" type="folder" title="Folders" active="0">\n</Type>\n')
    for ftype, operators in _FIELD_TYPES:
        ops = "".join(f'<Operator key="{attr(k)}" title="{t}" />\n' for k, t in operators)
        out.append(f'<FieldType type="{ftype}">\n{ops}</FieldType>\n')
    out.append("</Meta>\n")
    return "".join(out)


def render_collections_meta(section_id: int) -> str:
    """The ``<Meta>`` block of ``/library/sections/{id}/collections?includeMeta=1``."""
    sid = section_id
    return (f'<Meta>\n<Type key="/library/sections/{sid}/collections" type="collection" '
            f'title="Collections" active="0">\n'
            f'<Sort active="1" activeDirection="asc" default="asc" defaultDirection="asc" '
            f'descKey="titleSort:desc" key="titleSort" title="Title" />\n'
            f'<Sort defaultDirection="desc" descKey="addedAt:desc" key="addedAt" title="Date Added" />\n'
            f'<Field key="collection.title" title="Title" type="string" />\n'
            f'</Type>\n</Meta>\n')

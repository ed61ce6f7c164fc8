"""A realistic, deterministic media library to load into the Stash and Plex emulators.

``generate(seed)`` builds a :class:`World` from ``random.Random(seed)`` alone: the same
seed and options always give the same world. Its names are chosen to stress a sync
(accents, CJK, Cyrillic, right-to-left text, commas, straight and smart quotes,
apostrophes, ampersands, emoji and zero-width joiners, padded and very long names,
newlines in details), its dates span decades, and its options add the awkward cases:
files Plex has not scanned yet, the same file name in two folders, two-part scenes and
bare scenes with no metadata at all.

Every scene's files live at ``<stash_prefix>/<studio>/<year>/<name>.mp4`` in Stash and
at the same relative path under ``<plex_prefix>`` in Plex, where each scene starts as a
Plex agent would leave it: the title taken from the file name, no summary, no tags.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

ZWJ = "\u200d"
LONG_NAME_LENGTH = 230            # "very long" names: more than 200 characters
FOLDER_NAME_LIMIT = 100           # characters of a name used as a folder

# Names that break naive code; every pool of a world holds its whole stress list.
STRESS_STUDIOS = [
    "Crème Brûlée Studios", "Rock & Roll Pictures", 'The "Quoted" Studio', "Smith, Jones & Co.",
    "Müller’s Media", "東京ビデオ制作", "Москва Фильм", "Sunrise 🌅 Media",
    f"Family 👨{ZWJ}👩{ZWJ}👧 Pictures", "O'Reilly Productions", " Padded Studio ",
    "Ñandú & Señora", "‘Single’ Smart Quotes Ltd", "استوديو القمر",
]
STRESS_PERFORMERS = [
    "Zoë Čapková", "José Núñez", "Smith, Jane", 'Jamie "JJ" Jones', "“Lola” Star",
    "Mia & Max", "Seán O'Brien", "Chiara D’Angelo", "山田 花子", "김민지", "Анна Кузнецова",
    "Star 🌟 Bright", f"Kai 👩{ZWJ}🎤 Rocker", " Padded Performer ", "Łukasz Wójcik",
    "Søren Ærø", "ليلى حسن",
]
STRESS_TAGS = [
    "Rock & Roll", "Black, White", "Director's Cut", "“Classic”", "Été", "日本語", "Кино",
    "🔥 Hot", f"Couple 👩{ZWJ}❤️{ZWJ}👨", " spaced tag ", "4K", "Behind-the-Scenes",
    "Naïve café", "Ünïcödé", "A/B Test",
]
STRESS_GROUPS = [
    "Trilogy: Part I", "O'Malley's Collection", "Summer “Heat” Series", "Fish & Chips Saga",
    "Смешные истории", "夏の物語", "Road Trip 🚗 Diaries", "Volume 1, 2 & 3",
]
STRESS_TITLES = [
    'She said "Hello"', "It’s a “Smart” Title", "Rock & Roll, Part 2", "Ça va? Très bien!",
    "東京の夜", "Ночь в Москве", "Emoji 🎬 Night", f"Together 👩{ZWJ}👩{ZWJ}👧{ZWJ}👦",
    "  Leading and trailing spaces  ", "Don't Stop", "<b>Not HTML</b> & more", "100% Real",
    "Comma, Separated, Title", "Back\\slash", "قصة الليل",
    "Cafe\u0301 decomposed",                     # NFD, as files copied from a Mac are named
]

FIRST_NAMES = [
    "Anna", "Zoë", "José", "Björn", "Chloé", "Priya", "Mateo", "Aiyana", "Kai", "Leilani",
    "Dmitri", "Ngozi", "Maël", "Ines", "Tomás", "Freya", "Yuki", "Omar", "Lena", "Ravi",
    "Sofia", "Mika", "Aurélie", "Jonas", "Elif", "Kenji", "Nadia", "Pavel", "Greta", "Luca",
    "Amara", "Felix", "Hana", "Ivo", "Joëlle", "Kofi", "Liv", "Marta", "Noor", "Oskar",
]
LAST_NAMES = [
    "O'Brien", "D’Angelo", "Müller", "Nuñez", "Kowalski", "Smith-Jones", "van der Berg",
    "de la Cruz", "Ōta", "Novák", "Ferreira", "Lindqvist", "Okafor", "Haddad", "Rossi",
    "Dubois", "Petrov", "Sato", "Nguyen", "García", "Jensen", "Moreau", "Silva", "Kaur",
    "Schäfer", "Ivanova", "Brennan", "Castillo", "Yılmaz", "Larsen",
]
ADJECTIVES = [
    "Blue", "Golden", "Silent", "Velvet", "Crimson", "Northern", "Electric", "Midnight",
    "Wild", "Hidden", "Bright", "Lucky", "Urban", "Coastal", "Amber", "Neon", "Quiet",
    "Royal", "Rustic", "Silver",
]
NOUNS = [
    "Harbor", "Lantern", "Orchard", "Canyon", "River", "Meadow", "Comet", "Falcon", "Garden",
    "Island", "Mirror", "Prairie", "Summit", "Tide", "Valley", "Willow", "Ember", "Forest",
    "Horizon", "Atlas",
]
STUDIO_SUFFIXES = ["Films", "Studios", "Pictures", "Media", "Productions", "Video", "Works"]
TAG_WORDS = [
    "Outdoor", "Indoor", "POV", "Interview", "Solo", "Duo", "Group", "Vintage", "Amateur",
    "Cinematic", "Slow Motion", "Close-up", "Beach", "Studio Set", "Night", "Daylight",
    "Kitchen", "Pool", "Roleplay", "Costume", "Dance", "Massage", "Compilation", "Parody",
    "Romantic", "Comedy", "Drama", "Documentary", "Music", "Travel",
]
TITLE_WORDS = [
    "Afternoon", "Secrets", "Lights", "Journey", "Return", "Encounter", "Summer", "Winter",
    "Morning", "Promise", "Shadows", "Dreams", "Holiday", "Reunion", "Weekend", "Voyage",
    "Letters", "Whispers", "Echoes", "Sunset", "Rain", "Midnight", "Garden", "City",
]
SENTENCES = [
    "A warm afternoon turns into something unexpected.",
    "Filmed on location — no retakes.",
    "Ella dit « bonjour » et tout commence.",
    "Она улыбается и закрывает дверь.",
    "二人は駅で再会する。",
    "Rated 5/5 by viewers; \"the best of the year\".",
    "Tom & Jerry's café, 3 a.m.",
    "It’s the sequel nobody expected… but everyone wanted.",
    "Includes bonus footage 🎥 and interviews.",
    "Shot in 4K at 60 fps, <remastered>.",
]


@dataclass
class SceneSpec:
    """One Stash scene and the Plex item its file(s) appear as."""

    index: int
    title: str
    details: str
    date: str | None                  # YYYY-MM-DD
    rating100: int | None
    studio: str | None
    performers: list[str]
    tags: list[str]
    groups: list[str]
    code: str
    director: str
    urls: list[str]
    organized: bool
    files: list[str]                  # Stash paths; two for a multi-part scene
    plex_files: list[str]             # the same files as Plex sees them
    scanned: bool = True              # False: Plex has not scanned the file yet
    bare: bool = False
    multipart: bool = False
    duplicate_name: bool = False      # another scene has a file of the same name elsewhere
    in_plex: bool = True              # False: Plex has no such file at all (not even unscanned)
    size_key: str | None = None       # what the file's size and length derive from (default: its path)
    stash_id: str | None = None       # filled by World.load_into
    plex_key: int | None = None       # ratingKey, filled by World.load_into
    plex_type: str = "movie"          # "episode" when load_into filed it in a TV Shows library

    @property
    def show(self) -> str:
        """The show an episode layout files the scene under: its studio (or "Unsorted")."""
        return self.studio or "Unsorted"

    @property
    def season(self) -> int:
        """The season an episode layout files the scene under: its year (0, Plex's specials, if undated)."""
        return int(self.date[:4]) if self.date else 0

    @property
    def size(self) -> int:
        """Bytes of each of the scene's files (both emulators report the same)."""
        return file_size(self.size_key or self.files[0])

    @property
    def duration(self) -> float:
        """Seconds of each of the scene's files."""
        return file_seconds(self.size_key or self.files[0])

    @property
    def plex_title(self) -> str:
        """The title a Plex agent gives the item: its file name without extension or part."""
        stem = self.plex_files[0].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return stem[: -len(" - pt1")] if self.multipart else stem


@dataclass
class World:
    scenes: list[SceneSpec]
    studios: list[str]
    performers: list[str]
    tags: list[str]
    groups: list[str]
    stash_prefix: str
    plex_prefix: str
    seed: int = 1
    section_id: int | None = None     # filled by load_into
    show_section_id: int | None = None   # the TV Shows library (layouts "episodes" and "mixed")
    #: Plex-only files (no Stash scene has them) that share a name with a Stash file elsewhere.
    plex_only: list[str] = field(default_factory=list)
    plex_only_keys: list[int] = field(default_factory=list)   # filled by load_into

    @property
    def mapping_setting(self) -> str:
        """The path-mapping setting value that maps Stash's paths onto Plex's."""
        return f"{self.stash_prefix} => {self.plex_prefix}"

    def plex_path(self, stash_path: str) -> str:
        return self.plex_prefix + stash_path[len(self.stash_prefix):]

    def scene(self, stash_id: str | int) -> SceneSpec:
        return next(s for s in self.scenes if s.stash_id == str(stash_id))

    def load_into(self, stash: Any, plex: Any, section_title: str = "Movies", layout: str = "movies") -> None:
        """Load the world into the emulators with their bulk calls; record ids on each scene.

        ``layout``: ``movies`` (one Movies library), ``other_videos`` (one Other Videos
        library: the Personal Media agent), ``episodes`` (one TV Shows library: studio →
        show, year → season, scene → episode) or ``mixed`` (a Movies library and a TV Shows
        library "<section_title> (shows)", each holding the folders of every other studio).
        """
        if layout not in ("movies", "other_videos", "episodes", "mixed"):
            raise ValueError(f"unknown layout {layout!r}")
        ids = {
            "studio": {name: stash.add_studio(name) for name in self.studios},
            "performer": {name: stash.add_performer(name) for name in self.performers},
            "tag": {name: stash.add_tag(name) for name in self.tags},
            "group": {name: stash.add_group(name) for name in self.groups},
        }
        stash_ids = stash.add_scenes(
            {
                "title": s.title,
                "files": [{"path": f, "size": s.size, "duration": s.duration} for f in s.files],
                "studio_id": ids["studio"][s.studio] if s.studio else None,
                "performer_ids": [ids["performer"][p] for p in s.performers],
                "tag_ids": [ids["tag"][t] for t in s.tags],
                "group_ids": [ids["group"][g] for g in s.groups],
                "date": s.date, "details": s.details, "code": s.code, "director": s.director,
                "rating100": s.rating100, "urls": list(s.urls), "organized": s.organized,
            }
            for s in self.scenes
        )
        in_plex = [s for s in self.scenes if s.in_plex]
        for scene, stash_id in zip(self.scenes, stash_ids, strict=True):
            scene.stash_id = str(stash_id)
        if layout == "movies":
            self.section_id = plex.add_section(section_title, [self.plex_prefix], type="movie")
        elif layout == "other_videos":
            from sandbox.plex_library import OTHER_VIDEOS
            self.section_id = plex.add_section(section_title, [self.plex_prefix], type="movie",
                                               agent=OTHER_VIDEOS[0], scanner=OTHER_VIDEOS[1])
        elif layout == "episodes":
            self.show_section_id = plex.add_section(section_title, [self.plex_prefix], type="show")
        else:
            folders: dict[bool, list[str]] = {False: [], True: []}
            for scene in self.scenes:
                folder = scene.plex_files[0].rsplit("/", 2)[0]     # <prefix>/<studio>
                as_episode = self._studio_as_show(scene.studio)
                if folder not in folders[as_episode]:
                    folders[as_episode].append(folder)
            self.section_id = plex.add_section(section_title, folders[False] or [self.plex_prefix + "/movies"])
            self.show_section_id = plex.add_section(f"{section_title} (shows)", folders[True] or
                                                    [self.plex_prefix + "/shows"], type="show")
        for scene in self.scenes:
            episode = layout == "episodes" or (layout == "mixed" and self._studio_as_show(scene.studio))
            scene.plex_type = "episode" if episode else "movie"
        # Plex reports Part@size per file and Media@duration (ms) for all parts together.
        for plex_type in ("movie", "episode"):
            chosen = [s for s in in_plex if s.plex_type == plex_type]
            if not chosen:
                continue
            section = self.show_section_id if plex_type == "episode" else self.section_id
            extra = (lambda s: {"show": s.show, "season": s.season}) if plex_type == "episode" else (lambda s: {})
            plex_keys = plex.add_items(section, (
                {"title": s.plex_title, "files": list(s.plex_files), "scanned": s.scanned,
                 "summary": "", "size": s.size, "duration": int(s.duration * 1000) * len(s.files), **extra(s)}
                for s in chosen
            ))
            for scene, plex_key in zip(chosen, plex_keys, strict=True):
                scene.plex_key = plex_key
        only_section = self.section_id if self.section_id is not None else self.show_section_id
        only_extra = {"show": "Plex Only"} if self.section_id is None else {}
        self.plex_only_keys = plex.add_items(only_section, (
            {"title": path.rsplit("/", 1)[1].rsplit(".", 1)[0], "files": [path], "summary": "",
             "size": file_size(path), "duration": int(file_seconds(path) * 1000), **only_extra}
            for path in self.plex_only
        )) if self.plex_only else []

    def _studio_as_show(self, studio: str | None) -> bool:
        """In the mixed layout: every other studio (by the world's list) is a TV show."""
        return studio is not None and self.studios.index(studio) % 2 == 1

    @staticmethod
    def expected_episode(scene: SceneSpec) -> dict[str, Any]:
        """The Plex metadata a full sync must leave on the scene's episode, stated from the
        scene alone: an episode takes title, summary, date, rating, director and
        collections (studio and groups); it has no studio, genres or cast of ours, and
        Plex derives its year from the date (left unset here)."""
        return {
            "title": scene.title,
            "summary": scene.details,
            "studio": None,
            "originallyAvailableAt": scene.date,
            "year": None,
            "userRating": scene.rating100 / 10 if scene.rating100 is not None else None,
            "genres": [],
            "actors": [],
            "collections": ([scene.studio] if scene.studio else []) + list(scene.groups),
            "directors": [scene.director] if scene.director.strip() else [],
        }

    @staticmethod
    def expected_plex(scene: SceneSpec) -> dict[str, Any]:
        """The Plex metadata a full sync must leave on the scene's item.

        Stated from the scene alone, not through the project's mapping code: compare
        ``genres`` and ``collections`` as sets, ``actors`` in order.
        """
        return {
            "title": scene.title,
            "summary": scene.details,
            "studio": scene.studio,
            "originallyAvailableAt": scene.date,
            "year": int(scene.date[:4]) if scene.date else None,
            "userRating": scene.rating100 / 10 if scene.rating100 is not None else None,
            "genres": list(scene.tags),
            "actors": list(scene.performers),
            "collections": ([scene.studio] if scene.studio else []) + list(scene.groups),
        }


# ---------------------------------------------------------------------------- generation


def generate(seed: int = 1, scenes: int = 300, *, stash_prefix: str = "/stash/media",
             plex_prefix: str = "/data/media", unscanned_fraction: float = 0.0,
             duplicate_name_fraction: float = 0.0, multipart_fraction: float = 0.0,
             bare_fraction: float = 0.05, missing_twin_pairs: int = 0, plex_only_twins: int = 0,
             same_size_duplicates: bool = False) -> World:
    """Build a world of ``scenes`` scenes from ``seed``.

    Each fraction is of all scenes, rounded to a whole count: ``unscanned_fraction`` of
    scenes Plex has not scanned, ``multipart_fraction`` of two-file scenes,
    ``bare_fraction`` of scenes without metadata, and ``duplicate_name_fraction`` of
    scenes whose file name another scene's file in another folder shares (they come in
    pairs; at least half of the pairs are both scanned, so a lookup by name alone is
    ambiguous).

    ``missing_twin_pairs``: pairs of scenes whose files share a name in different
    folders, where Plex has only the first of the pair (the second is not in Plex at
    all). ``plex_only_twins``: Plex-only files (no Stash scene has them) named like a
    Stash file of another folder that Plex does not have. Every file has a size and duration (from its path)
    that both emulators report alike; different files differ in size, except that with
    ``same_size_duplicates`` the ``duplicate_name_fraction`` pairs are copies of one file
    (same size and length), which only the path can tell apart.
    """
    for name, value in (("unscanned_fraction", unscanned_fraction),
                        ("duplicate_name_fraction", duplicate_name_fraction),
                        ("multipart_fraction", multipart_fraction),
                        ("bare_fraction", bare_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}")
    stash_prefix, plex_prefix = stash_prefix.rstrip("/"), plex_prefix.rstrip("/")
    rng = random.Random(seed)
    n = scenes
    studios = _pool(rng, STRESS_STUDIOS, _long_name("Studio"), max(12, n // 12), _studio_name)
    performers = _pool(rng, STRESS_PERFORMERS, _long_name("Performer"), max(24, n // 3),
                       _performer_name)
    tags = _pool(rng, STRESS_TAGS, _long_name("Tag"), max(30, min(150, n // 6)), _tag_name)
    groups = _pool(rng, STRESS_GROUPS, _long_name("Group"), max(10, n // 20), _group_name)

    everyone = list(range(n))
    multipart = set(rng.sample(everyone, round(multipart_fraction * n)))
    single = [i for i in everyone if i not in multipart]
    pair_count = min(round(duplicate_name_fraction * n / 2), len(single) // 2)
    paired = rng.sample(single, 2 * pair_count)
    pairs = [(paired[2 * k], paired[2 * k + 1]) for k in range(pair_count)]
    protected = {i for pair in pairs[: (pair_count + 1) // 2] for i in pair}
    unscanned = set(rng.sample([i for i in everyone if i not in protected],
                               min(round(unscanned_fraction * n), n - len(protected))))
    bare = set(rng.sample(everyone, round(bare_fraction * n)))

    used = _Coverage(rng)
    specs = [_scene(rng, i, i in bare, studios, performers, tags, groups, used)
             for i in everyone]
    names: set[str] = set()
    for spec in specs:
        spec.multipart = spec.index in multipart
        spec.scanned = spec.index not in unscanned
        folder = f"{stash_prefix}/{_folder(spec.studio or 'Unsorted')}/"
        folder += spec.date[:4] if spec.date else "undated"
        base = _unique(_file_stem(rng, spec), names)
        parts = [f"{base} - pt1.mp4", f"{base} - pt2.mp4"] if spec.multipart else [f"{base}.mp4"]
        spec.files = [f"{folder}/{part}" for part in parts]
    for source, copy in pairs:
        src, dst = specs[source], specs[copy]
        name = src.files[0].rsplit("/", 1)[1]
        folder = dst.files[0].rsplit("/", 1)[0]
        if folder == src.files[0].rsplit("/", 1)[0]:
            folder += "/Extras"
        dst.files = [f"{folder}/{name}"]
        src.duplicate_name = dst.duplicate_name = True
        if same_size_duplicates:
            src.size_key = dst.size_key = name
    # A separate stream, so worlds generated without these options stay as they were.
    twin_rng = random.Random(seed * 7919 + 1)
    free = [s for s in specs if not s.duplicate_name and not s.multipart]
    if 2 * missing_twin_pairs + plex_only_twins > len(free):
        raise ValueError("not enough single-file scenes for the twins asked for")
    chosen = twin_rng.sample(free, 2 * missing_twin_pairs + plex_only_twins)
    for k in range(missing_twin_pairs):
        src, dst = chosen[2 * k], chosen[2 * k + 1]
        name = src.files[0].rsplit("/", 1)[1]
        folder = dst.files[0].rsplit("/", 1)[0]
        if folder == src.files[0].rsplit("/", 1)[0]:
            folder += "/Extras"
        dst.files = [f"{folder}/{name}"]
        dst.in_plex = False
        src.duplicate_name = dst.duplicate_name = True
    plex_only = []
    for spec in chosen[2 * missing_twin_pairs:]:
        # The scene's own file is not in Plex: the Plex-only file is its only namesake.
        name = spec.files[0].rsplit("/", 1)[1]
        plex_only.append(f"{plex_prefix}/Plex Only/{name}")
        spec.duplicate_name, spec.in_plex = True, False
    for spec in specs:
        spec.plex_files = [plex_prefix + f[len(stash_prefix):] for f in spec.files]
    return World(scenes=specs, studios=studios, performers=performers, tags=tags, groups=groups,
                 stash_prefix=stash_prefix, plex_prefix=plex_prefix, seed=seed, plex_only=plex_only)


def file_size(path: str) -> int:
    """A file's size in bytes, from its path alone (so two different files differ)."""
    digest = int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big")
    return 100_000_000 + digest % 3_900_000_000


def file_seconds(path: str) -> float:
    """A file's length in seconds, from its path alone."""
    digest = int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big")
    return float(300 + (digest >> 40) % 3300)


class _Coverage:
    """Hands out names so each pool's names are all used once before any is picked at random."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.handed: dict[str, int] = {}

    def pick(self, kind: str, pool: list[str]) -> str:
        i = self.handed.get(kind, 0)
        self.handed[kind] = i + 1
        return pool[i] if i < len(pool) else self.rng.choice(pool)

    def some(self, kind: str, pool: list[str], count: int) -> list[str]:
        chosen: list[str] = []
        for _ in range(count * 3):
            if len(chosen) == count:
                break
            name = self.pick(kind, pool)
            if name not in chosen:
                chosen.append(name)
        return chosen


def _scene(rng: random.Random, index: int, bare: bool, studios: list[str],
           performers: list[str], tags: list[str], groups: list[str],
           used: _Coverage) -> SceneSpec:
    title = (STRESS_TITLES[index] if index < len(STRESS_TITLES)
             else _long_name("Title") if index == len(STRESS_TITLES) else _title(rng))
    if bare:
        return SceneSpec(index=index, title=title, details="", date=None, rating100=None,
                         studio=None, performers=[], tags=[], groups=[], code="", director="",
                         urls=[], organized=False, files=[], plex_files=[], bare=True)
    return SceneSpec(
        index=index,
        title=title,
        details=_details(rng),
        date=_date(rng),
        rating100=None if rng.random() < 0.25 else rng.choice(
            [rng.randint(1, 100), rng.randrange(20, 101, 20), rng.randrange(10, 101, 10)]),
        studio=used.pick("studio", studios) if rng.random() < 0.9 else None,
        performers=used.some("performer", performers, rng.choice([0, 1, 1, 2, 2, 2, 3, 4])),
        tags=used.some("tag", tags, rng.choice([0, 1, 2, 3, 4, 5, 6, 8])),
        groups=used.some("group", groups, 1) if rng.random() < 0.2 else [],
        code=f"{rng.choice(['ABC', 'XYZ', 'QRS'])}-{rng.randint(100, 9999)}"
        if rng.random() < 0.4 else "",
        director=rng.choice(FIRST_NAMES) + " " + rng.choice(LAST_NAMES)
        if rng.random() < 0.3 else "",
        urls=[f"https://example.com/scenes/{index}"] if rng.random() < 0.5 else [],
        organized=rng.random() < 0.5,
        files=[], plex_files=[],
    )


def _pool(rng: random.Random, stress: list[str], long_name: str, size: int,
          make: Any) -> list[str]:
    """``size`` unique names (case-insensitively): every stress name, a long one, the rest plain."""
    names = [*stress, long_name]
    seen = {n.casefold() for n in names}
    for _ in range(size * 50):
        if len(names) >= size:
            break
        name = make(rng)
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    rng.shuffle(names)
    return names


def _long_name(kind: str) -> str:
    words = "Extraordinarily Long Name That Keeps Going With Ümlauts, Commas & “Quotes” Forever"
    name = f"{kind} {words}"
    while len(name) < LONG_NAME_LENGTH:
        name += " " + words
    return name[:LONG_NAME_LENGTH].rstrip()


def _studio_name(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(STUDIO_SUFFIXES)}"


def _performer_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _tag_name(rng: random.Random) -> str:
    word = rng.choice(TAG_WORDS)
    return word if rng.random() < 0.5 else f"{rng.choice(ADJECTIVES)} {word}"


def _group_name(rng: random.Random) -> str:
    return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(['Series', 'Saga', 'Collection', 'Chronicles'])}"


def _title(rng: random.Random) -> str:
    words = rng.sample(TITLE_WORDS, rng.randint(1, 3))
    title = " ".join(words)
    roll = rng.random()
    if roll < 0.1:
        title += f", Part {rng.randint(2, 5)}"
    elif roll < 0.2:
        title = f"{rng.choice(FIRST_NAMES)}'s {title}"
    elif roll < 0.25:
        title += " & " + rng.choice(TITLE_WORDS)
    return title


def _details(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return ""
    text = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
    if roll < 0.45:
        text += "\n" + rng.choice(SENTENCES)
    if roll < 0.55:
        text += "\n\n" + rng.choice(SENTENCES)
    return text


def _date(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return None
    start = date(1972, 1, 1)
    day = start + timedelta(days=rng.randrange((date(2024, 12, 31) - start).days + 1))
    return day.isoformat()


def _folder(name: str) -> str:
    clean = "".join("-" if c == "/" or ord(c) < 32 else c for c in name).strip()
    return clean[:FOLDER_NAME_LIMIT].rstrip() or "Unnamed"


def _file_stem(rng: random.Random, spec: SceneSpec) -> str:
    title = _folder(spec.title)[:80].rstrip()
    roll = rng.random()
    if roll < 0.45 or spec.bare:
        return title
    if roll < 0.7 and spec.date:
        return f"{_folder(spec.studio or 'Unsorted')[:40].rstrip()} - {spec.date} - {title}"
    if roll < 0.85 and spec.performers:
        return f"{_folder(spec.performers[0])[:40].rstrip()} - {title}"
    return f"scene_{spec.index:05d}"


def _unique(stem: str, taken: set[str]) -> str:
    candidate, n = stem, 2
    while candidate in taken:
        candidate, n = f"{stem} ({n})", n + 1
    taken.add(candidate)
    return candidate


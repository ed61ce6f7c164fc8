"""Stash's rating (``rating100``, 1–100) and Plex's (``userRating``, 0–10): one scale.

The scene sync writes a scene's rating into Plex and the watch-state pass may bring a
Plex rating back into Stash; both convert here, so neither reads the other's write as a
change. Plex keeps ``userRating`` as a decimal (the sync writes Stash 73 as 7.3), so the
conversion is exact in both directions; Plex 0 (or none) is unrated, as Stash's ``None``.
"""

from __future__ import annotations

#: Ratings closer than this on Plex's 0–10 scale are the same (Plex answers decimals).
_SAME = 0.05


def plex_rating_of(rating100: int | None) -> float | None:
    """Stash's 1–100 as Plex's 0–10 (``rating100 / 10``), ``None`` when unrated."""
    if rating100 is None or isinstance(rating100, bool) or rating100 <= 0:
        return None
    return min(10.0, float(rating100) / 10.0)


def stash_rating_of(user_rating: float | None) -> int | None:
    """Plex's 0–10 as Stash's 1–100 (× 10, to the nearest whole), ``None`` when unrated."""
    if user_rating is None or user_rating <= 0:
        return None
    return max(1, min(100, int(float(user_rating) * 10 + 0.5)))


def same_rating(rating100: int | None, user_rating: float | None) -> bool:
    """Whether the two ratings are the same rating."""
    plex = plex_rating_of(rating100)
    theirs = None if user_rating is None or user_rating <= 0 else float(user_rating)
    if plex is None or theirs is None:
        return plex is None and theirs is None
    return abs(plex - theirs) < _SAME

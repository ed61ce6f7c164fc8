"""Keeping a long task's memory from growing with its threads.

glibc gives each thread that allocates its own malloc arena (up to eight per core) and
keeps freed memory in it, so a drain's Plex pool and cover readers raised its peak
resident memory from 94 MB to 175 MB at 4,000 scenes (``bench/full_sync.py``) while its
Python objects peaked at 45 MB (tracemalloc). Capping the arenas, as the
``MALLOC_ARENA_MAX`` variable would if Stash set it, keeps the peak near the objects.
"""

from __future__ import annotations

import sys

from shared.defaults import MALLOC_ARENAS

#: glibc's ``mallopt`` parameter for the number of arenas (malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; ``True`` when applied.

    Nothing happens elsewhere (musl on Alpine keeps no per-thread arenas; macOS and Windows
    allocate differently) or when the variable already says how many.
    """
    if not sys.platform.startswith("linux"):
        return False
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False   # the user's own choice
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):
            return False   # not glibc
        return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))
    except (OSError, AttributeError):
        return False

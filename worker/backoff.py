"""Exponential backoff with full jitter: a pure function of the attempt number."""

from __future__ import annotations

import random

from shared import defaults

# 2**64 already exceeds any sane cap; clamping keeps the arithmetic small.
_MAX_EXPONENT = 64


def calculate_delay(
    retry_count: int,
    base: float = defaults.BACKOFF_BASE_SECONDS,
    cap: float = defaults.BACKOFF_CAP_SECONDS,
    jitter_seed: int | str | None = None,
) -> float:
    """Seconds to wait before retry number ``retry_count`` (0-based).

    Full jitter (AWS architecture blog): uniform in ``[0, min(cap, base * 2**n)]``,
    which spreads retries of many jobs instead of stampeding Plex together. With
    ``jitter_seed`` the result is deterministic for that seed and attempt.
    """
    exponent = min(max(int(retry_count), 0), _MAX_EXPONENT)
    ceiling = min(float(cap), float(base) * (2**exponent))
    if ceiling <= 0:
        return 0.0
    rng = random.Random(f"{jitter_seed}:{exponent}") if jitter_seed is not None else random
    return rng.uniform(0.0, ceiling)

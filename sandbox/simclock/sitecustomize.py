"""A simulated wall clock for plugin processes the sandbox starts (like libfaketime).

Put this folder first on ``PYTHONPATH`` and set ``SANDBOX_CLOCK_OFFSET`` (seconds): the
process then sees ``time.time()``/``time.time_ns()`` that far ahead. Tests use it to let
an outage's minutes pass (breaker cool-down, retry backoff) without waiting for them.
Monotonic clocks and sleeps are untouched, as they are when a real machine's clock moves
between two runs. Approximate: ``datetime.now()`` and file timestamps are not shifted.
"""

import os
import time

_offset = float(os.environ.get("SANDBOX_CLOCK_OFFSET") or 0)
if _offset:
    _real_time, _real_time_ns = time.time, time.time_ns
    time.time = lambda: _real_time() + _offset
    time.time_ns = lambda: _real_time_ns() + int(_offset * 1e9)

"""How many requests this process is working on, counted by the HTTP layer.

The query embedder spreads a call over every core only when its request is the only one at work:
beside other requests its second thread waits, at each of the engine's barriers, for a core that
another request holds (index/embedders/e5.py). Outside a server (the CLI, a script) nothing is
counted and every query has the process to itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_requests = 0


@contextmanager
def request() -> Iterator[None]:
    """One request at work for as long as the block runs."""
    global _requests
    with _lock:
        _requests += 1
    try:
        yield
    finally:
        with _lock:
            _requests -= 1


def others() -> int:
    """Requests at work besides the caller's own (0 outside a request)."""
    return max(0, _requests - 1)

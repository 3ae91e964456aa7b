"""Payloads of search results, kept between queries of the embedded index.

A hybrid query that returns its points' payloads costs Qdrant Edge about twice the query alone
(the payloads are read and turned into Python dicts, holding the GIL), and a worker of ``serve
--workers N`` receives them over the owner's socket besides. The payloads of the points a search
finds are few and repeat (the same clauses answer many questions), so the embedded index searches
without payloads and takes them from here, reading only those it has not seen.

Every entry belongs to one state of the index, its version: 2 per write, odd while a write is under
way (a search may already see a write whose count has not moved yet). The version read after a
search must be the one the cached payloads were read under, or the cache starts over; while it is
odd every payload is read from the index and none is kept. Only the process that writes the index
knows its version, so only the embedded index (and its workers, which learn the version with each
search) use this; a Qdrant server, which other nodes may write, does not.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from index.vectors.base import ScoredId

MAX_ENTRIES = 20_000  # ≈ 2.5 kB each (a chunk's text and its fields): ≈ 50 MB at most per process


class PayloadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._version: int | None = None
        self._lock = threading.Lock()

    def complete(
        self, ranked: list[tuple[str, float]], version: int, fetch: Callable[[list[str]], list[ScoredId]]
    ) -> list[ScoredId]:
        """The search results ``ranked`` (id, score), found at the index's ``version``, with their
        payloads: cached ones, and ``fetch`` (the index's own lookup by id) for the rest. Each result
        gets its own copy of the payload (callers add to it). A point deleted since the search is
        left out, as a search a moment later would have."""
        found: dict[str, dict[str, Any]] = {}
        steady = version % 2 == 0  # no write under way
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._version = version
            for point_id, _ in ranked if steady else ():
                payload = self._items.get(point_id)
                if payload is not None:
                    self._items.move_to_end(point_id)
                    found[point_id] = payload
        missing = [point_id for point_id, _ in ranked if point_id not in found]
        if missing:
            # read after the search: at this version or a later one. If later, the cache has started
            # over (or will, at the next search) and these entries are never met again.
            fetched = {record.id: record.payload for record in fetch(missing)}
            found.update(fetched)
            with self._lock:
                if steady and self._version == version:
                    self._items.update(fetched)
                    while len(self._items) > self.max_entries:
                        self._items.popitem(last=False)
        return [ScoredId(point_id, score, dict(found[point_id])) for point_id, score in ranked if point_id in found]

"""What a worker process keeps of the files it reads: many small batches come from one file, so whatever costs
more than the batch itself (a CSV parse, a Parquet footer) is done once per file version and kept here."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

Entry = TypeVar("Entry")


class LruCache(Generic[Entry]):
    """Entries by key (a file's token), least recently used dropped first; shared by a worker's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

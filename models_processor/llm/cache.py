"""In-memory LRU cache with TTL for model results, with single-flight for identical concurrent requests.

Producers resend the same photo (retries, duplicates after a rebalance under at-least-once); a model call
costs seconds of GPU, so identical (model, prompt, options, image) answers are served from memory. One
instance is shared by the vision and text models of a process; it is passed in, never global.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from ..metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")


class ResultCache:
    """Thread-safe LRU with a per-entry TTL. `max_entries == 0` disables caching (every get misses)."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic,
                 *, metrics: Metrics) -> None:
        if max_entries < 0 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 0 and ttl_seconds > 0")
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._metrics = metrics
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # key -> (expires_at, value)
        self._in_flight: dict[str, threading.Event] = {}  # single-flight: key -> set when the leader ends

    @property
    def enabled(self) -> bool:
        return self._max > 0

    @staticmethod
    def key(model: str, prompt_or_messages: Any, options: Any, image_bytes: bytes | None = None) -> str:
        """sha256 over canonical JSON of model/prompt/options plus the sha256 of the image bytes.

        sort_keys and fixed separators make equal inputs give equal keys whatever the dict order; the image
        enters as its own digest so megabytes are hashed once and never copied into the JSON.
        """
        image_digest = hashlib.sha256(image_bytes).hexdigest() if image_bytes is not None else None
        canonical = json.dumps(
            {"model": model, "prompt": prompt_or_messages, "options": options, "image_sha256": image_digest},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _count(self, result: str) -> None:
        self._metrics.cache.labels(result=result).inc()

    def _lookup_locked(self, key: str) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)  # most recently used goes last; eviction pops from the front
        return True, value

    def get(self, key: str) -> Any | None:
        """The cached value or None; counts a hit or a miss."""
        if not self.enabled:
            return None
        with self._lock:
            found, value = self._lookup_locked(key)
        self._count("hit" if found else "miss")
        return value if found else None

    def put(self, key: str, value: Any) -> None:
        if not self.enabled or value is None:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get_or_compute(self, key: str, compute: Callable[[], T], *, wait_seconds: float) -> tuple[T, bool]:
        """Return (value, from_cache). Concurrent callers with the same key wait (up to `wait_seconds`) for
        the first one's result instead of calling the model again; if the first one fails or the wait runs
        out, the waiter computes itself. Errors are never cached."""
        if not self.enabled:
            return compute(), False
        wait_until = time.monotonic() + max(0.0, wait_seconds)
        while True:
            with self._lock:
                found, value = self._lookup_locked(key)
                running = None if found else self._in_flight.get(key)
                if not found and running is None:
                    event = self._in_flight[key] = threading.Event()  # we are the leader
            if found:
                self._count("hit")
                return value, True
            if running is None:
                break
            # Another thread is computing this key: wait for it, then look again (hit, or our turn).
            if not running.wait(timeout=max(0.0, wait_until - time.monotonic())):
                log.debug("single-flight wait ran out; computing without the cache")
                self._count("miss")
                return compute(), False
        self._count("miss")
        try:
            value = compute()
            self.put(key, value)
            return value, False
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
            event.set()

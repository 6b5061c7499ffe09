"""What each visitor's page has going on, by browser session: the one way the app keeps per-visitor state.

A search in progress (so that the page's Stop ends it), a live training run (its folder and the model it leaves), a
2-D game: each is kept under the session that started it, found again by that session alone, and handed to
``on_close`` when the page closes (:meth:`Visitors.close`) or when it has been idle for ``idle_seconds``. Nothing here
depends on Gradio: a session is any string (Gradio's session hash).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Visitors(Generic[T]):
    """Values kept per session (several per session allowed), thread-safe.

    ``on_close(value)`` runs for every value a session loses through :meth:`close` or idleness (not :meth:`remove`),
    outside the lock. ``idle_seconds``: a session untouched (no :meth:`put`, :meth:`of` or :meth:`touch`) this long
    is closed at the next call; None keeps it until :meth:`close`.
    """

    def __init__(self, on_close: Callable[[T], None] | None = None, idle_seconds: float | None = None):
        self._on_close = on_close
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._values: dict[str, list[T]] = {}
        self._touched: dict[str, float] = {}

    def put(self, session: str, value: T, *, only: bool = False, at_most: int | None = None, refusal: str = "") -> T:
        """Keep ``value`` for ``session``; ``only``: it replaces the session's other values (they are closed);
        ``at_most``: ValueError(``refusal``) instead if the session already holds that many (checked and kept at once)."""
        with self._lock:
            if at_most is not None and len(self._values.get(session, ())) >= at_most:
                raise ValueError(refusal)
            replaced = self._values.pop(session, []) if only else []
            self._values.setdefault(session, []).append(value)
            self._touched[session] = time.monotonic()
        self._closed([old for old in replaced if old is not value])
        self._expire()
        return value

    def remove(self, session: str, value: T) -> None:
        """Forget ``value`` (it ended by itself: ``on_close`` is not called)."""
        with self._lock:
            values = self._values.get(session, [])
            if value in values:
                values.remove(value)
            if not values:
                self._values.pop(session, None)
                self._touched.pop(session, None)

    def of(self, session: str | None) -> list[T]:
        """``session``'s values, oldest first (none for ``None``: a call without a session owns nothing)."""
        self._expire()
        if session is None:
            return []
        with self._lock:
            if session in self._values:
                self._touched[session] = time.monotonic()
            return list(self._values.get(session, ()))

    def first(self, session: str | None) -> T | None:
        values = self.of(session)
        return values[0] if values else None

    def close(self, session: str | None) -> list[T]:
        """The page closed: forget its values and hand each to ``on_close``; returns them."""
        if session is None:
            return []
        with self._lock:
            values = self._values.pop(session, [])
            self._touched.pop(session, None)
        self._closed(values)
        return values

    @contextlib.contextmanager
    def holding(self, session: str | None, value: T, *, at_most: int | None = None, refusal: str = "") -> Iterator[T]:
        """Keep ``value`` for ``session`` while the block runs (a call without a session keeps nothing); ``at_most``
        and ``refusal`` as for :meth:`put`."""
        if session is None:
            yield value
            return
        self.put(session, value, at_most=at_most, refusal=refusal)
        try:
            yield value
        finally:
            self.remove(session, value)

    def __len__(self) -> int:
        """How many values are kept, over all sessions."""
        with self._lock:
            return sum(len(values) for values in self._values.values())

    def values(self) -> list[T]:
        """Every session's values."""
        with self._lock:
            return [value for values in self._values.values() for value in values]

    def _expire(self) -> None:
        if self._idle_seconds is None:
            return
        cutoff = time.monotonic() - self._idle_seconds
        with self._lock:
            idle = [session for session, touched in self._touched.items() if touched < cutoff]
        for session in idle:
            self.close(session)

    def _closed(self, values: list[T]) -> None:
        if self._on_close is not None:
            for value in values:
                self._on_close(value)

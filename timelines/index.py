"""Indexes the correlator uses instead of scanning: entity keys -> rows, and time-sorted rows
per host and kind, windowed with bisect.

Rows arrive in time order (the timeline is sorted once), so appending keeps every list sorted
and building all indexes is one linear pass; a window query costs O(log n + hits).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Hashable, Iterator


class TimeIndex:
    """Rows of one kind per host, in time order."""

    def __init__(self) -> None:
        self._times: dict[str, list[int]] = defaultdict(list)
        self._rows: dict[str, list[int]] = defaultdict(list)

    def add(self, host: str, time_us: int, row: int) -> None:
        self._times[host].append(time_us)
        self._rows[host].append(row)

    def window(self, host: str, lo_us: int, hi_us: int) -> Iterator[int]:
        times = self._times.get(host)
        if not times:
            return
        rows = self._rows[host]
        for i in range(bisect_left(times, lo_us), bisect_right(times, hi_us)):
            yield rows[i]


class KeyIndex:
    """key -> rows (time-sorted); keys are tuples such as (host, ppid)."""

    def __init__(self) -> None:
        self._rows: dict[Hashable, list[int]] = defaultdict(list)
        self._times: dict[Hashable, list[int]] = defaultdict(list)

    def add(self, key: Hashable, time_us: int, row: int) -> None:
        self._rows[key].append(row)
        self._times[key].append(time_us)

    def get(self, key: Hashable) -> list[int]:
        return self._rows.get(key, [])

    def window(self, key: Hashable, lo_us: int, hi_us: int) -> Iterator[int]:
        times = self._times.get(key)
        if not times:
            return
        rows = self._rows[key]
        for i in range(bisect_left(times, lo_us), bisect_right(times, hi_us)):
            yield rows[i]

    def last_at_or_before(self, key: Hashable, time_us: int) -> int | None:
        times = self._times.get(key)
        if not times:
            return None
        i = bisect_right(times, time_us)
        return self._rows[key][i - 1] if i else None

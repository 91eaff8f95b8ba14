"""What each source delivered, and which source delivered each record the daemon holds.

The daemon holds one record per entity and key (:class:`~monitor.snapshot.Records`): the
one delivered last. For each source it must know what the source lists (a full poll
forgets the keys it no longer lists), whether a row it delivers again is unchanged (then
it is neither stored nor judged again), and which source a held record came from (a
finding is held while its source is down).

Most entities come from one source, and then the held records already say all of it: a
source's record is its own last delivery, so a row is unchanged when it equals the held
record (records compare by value), and the source lists the held keys. Nothing is kept
per record beyond the record itself. An entity's first source holds every record held,
unless another source delivered that key after it: only those keys (rare: two sources
delivering the same case) are kept apart, with their holder (or ``None`` where the
other source forgot its record while the first one still lists the key: no record is
held until a source delivers it again), and so are the records a source delivered that
are not held because another source's record is (its *shadows*), to tell whether it
delivers them again unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.snapshot import Records


class Holders:
    """Who holds each record of :class:`Records`, and what each source delivered."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self._first: dict[str, str] = {}  # entity -> the first source to deliver any
        # entity -> key -> holder, where it is not the first source (None: no one).
        self._others: dict[str, dict[str, str | None]] = {}
        # (source, entity) -> key -> the record the source delivered last, where another
        # source's record (or none) is held under the key.
        self._shadows: dict[tuple[str, str], dict[str, Any]] = {}

    def holder(self, entity: str, key: str) -> str | None:
        """The source that delivered the record held under ``key``, if one is held."""
        others = self._others.get(entity)
        if others and key in others:
            return others[key]
        if self.records.get(entity, key) is None:
            return None
        return self._first[entity]

    def unchanged(self, source: str, entity: str, key: str, record: Any) -> bool:
        """Whether ``record`` equals what ``source`` delivered last under ``key``."""
        others = self._others.get(entity)
        if others and key in others:
            its_own = others[key] == source
        else:  # held by the first source, if by any
            its_own = source == self._first.get(entity, source)
        if its_own:
            return bool(self.records.get(entity, key) == record)
        shadows = self._shadows.get((source, entity), {})
        return key in shadows and shadows[key] == record

    def listed(self, source: str, entity: str) -> set[str]:
        """The keys ``source`` delivered of ``entity`` and did not delete since."""
        others = self._others.get(entity, {})
        shadows = self._shadows.get((source, entity), {}).keys()
        if source == self._first.get(entity):
            return (self.records.keys(entity) - others.keys()) | shadows
        return {key for key, holder in others.items() if holder == source} | shadows

    def hold(self, source: str, entity: str, delivered: Iterable[tuple[str, Any]]) -> None:
        """``source`` delivered these records (key and record each): they are held now."""
        add = self.records.add
        first = self._first.setdefault(entity, source)
        others = self._others.setdefault(entity, {})
        if source == first and not others and not self._shadows.get((source, entity)):
            for _, record in delivered:  # one source: the records say it all
                add(entity, record)
            return
        for key, record in delivered:
            holder = self.holder(entity, key)
            if holder is not None and holder != source:  # its record is displaced
                displaced = self.records.get(entity, key)
                self._shadows.setdefault((holder, entity), {})[key] = displaced
            self._shadows.get((source, entity), {}).pop(key, None)
            if source == first:
                others.pop(key, None)
            else:
                others[key] = source
            add(entity, record)

    def forget(self, source: str, entity: str, key: str) -> bool:
        """``source`` no longer lists ``key``; whether the record held under it was its
        (it is dropped: no record is held under the key now)."""
        first = self._first.get(entity)
        others = self._others.get(entity, {})
        if self.holder(entity, key) != source:
            self._shadows.get((source, entity), {}).pop(key, None)
            if source == first and key in others and others[key] is None:
                del others[key]  # the first source no longer lists it either
            return False
        self.records.discard(entity, key)
        if source != first:
            if key in self._shadows.get((first or "", entity), {}):
                others[key] = None  # the first source lists it, its record displaced
            else:
                del others[key]
        return True

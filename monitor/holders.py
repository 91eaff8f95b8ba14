"""Which source delivered each record the daemon holds, and what each source delivered.

For each source and entity the daemon keeps the digest of every record the source
delivered, by key: the keys are what the source lists (a full poll forgets the ones it
no longer lists), the digests tell an unchanged row from a changed one. The daemon holds
one record per entity and key — the one delivered last — and must know its source: a
finding is held while the source it was computed from is down.

Most entities come from one source, and then its digests already say who holds what.
So the holder is not kept per record: an entity's first source holds every key it
lists, unless another source delivered that key after it. Only those keys (rare: two
sources delivering the same case) are kept apart, with their holder, or ``None`` where
the other source forgot its record while the first one still lists the key (the record
is then held by no one, until a source delivers it again). At a million cases this
spares a dictionary entry per record (about 140 MB over the province benchmark's
3.8 million records) against keeping every record's holder.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable


def payload_digest(payload: str) -> int:
    """A 56-bit digest of a record's stored payload: telling a changed row from an
    unchanged one needs no more, and an int this size takes 32 bytes (a 12-byte
    ``bytes`` digest took 48)."""
    return int.from_bytes(hashlib.blake2b(payload.encode(), digest_size=7).digest())


class Holders:
    """The digests each source delivered, by entity and key, and who holds each key."""

    def __init__(self) -> None:
        self._digests: dict[tuple[str, str], dict[str, int]] = {}
        self._first: dict[str, str] = {}  # entity -> the first source to deliver any
        # entity -> key -> holder, where it is not the first source.
        self._others: dict[str, dict[str, str | None]] = {}

    def digests(self, source: str, entity: str) -> dict[str, int]:
        """What ``source`` delivered of ``entity``: digest by key (do not change it)."""
        return self._digests.get((source, entity), {})

    def counts(self) -> Counter[str]:
        """How many keys the sources list, by entity."""
        counted = Counter[str]()
        for (_, entity), digests in self._digests.items():
            counted[entity] += len(digests)
        return counted

    def hold(self, source: str, entity: str, delivered: Iterable[tuple[str, int]]) -> None:
        """``source`` delivered these records (key and digest each): it holds them now."""
        digests = self._digests.setdefault((source, entity), {})
        first = self._first.setdefault(entity, source)
        others = self._others.setdefault(entity, {})
        if source != first:
            for key, digest in delivered:
                digests[key] = digest
                others[key] = source
        elif others:
            for key, digest in delivered:
                digests[key] = digest
                others.pop(key, None)
        else:
            digests.update(delivered)

    def forget(self, source: str, entity: str, key: str) -> bool:
        """``source`` no longer lists ``key``; whether the record held under it was its
        (and is held by no one now)."""
        holder = self.holder(entity, key)
        self._digests.get((source, entity), {}).pop(key, None)
        first = self._first.get(entity)
        others = self._others.get(entity, {})
        if holder != source:
            if source == first and key in others and others[key] is None:
                del others[key]  # no source lists it any more
            return False
        if source != first:
            if key in self.digests(first or "", entity):
                others[key] = None
            else:
                del others[key]
        return True

    def holder(self, entity: str, key: str) -> str | None:
        """The source that delivered the record held under ``key``, if one is held."""
        others = self._others.get(entity)
        if others and key in others:
            return others[key]
        first = self._first.get(entity)
        if first is not None and key in self._digests[(first, entity)]:
            return first
        return None

"""monitor.holders: who holds each record and what each source delivered, kept apart only
where a key comes from more than an entity's first source."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from monitor.holders import Holders
from monitor.model import Step, Ticket
from monitor.snapshot import Records
from monitor.store import child_key, encode_record, record_key

AT = dt.datetime(2026, 10, 9, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def ticket(key: str, version: int) -> Ticket:
    return Ticket(id=key, number=f"A{version:03d}", issued_at=AT)


def step(key: str, version: int) -> tuple[str, Step]:
    case_id, seq = child_key(key)
    return case_id, Step(seq=seq, name=f"v{version}", started_at=AT)


MAKE = {"tickets": ticket, "steps": step}
KEYS = {"tickets": [f"T{i}" for i in range(5)], "steps": [f"C{i % 2}/{i}" for i in range(5)]}


class PlainHolders:
    """The bookkeeping Holders replaces: every record's holder and the digest of every
    source's last delivery (its encoded payload), by key."""

    def __init__(self) -> None:
        self.holders: dict[str, dict[str, str]] = {}
        self.held: dict[str, dict[str, Any]] = {}
        self.listed: dict[tuple[str, str], dict[str, str]] = {}

    def unchanged(self, source: str, entity: str, key: str, record: Any) -> bool:
        return self.listed.get((source, entity), {}).get(key) == encode_record(entity, record)

    def hold(self, source: str, entity: str, key: str, record: Any) -> None:
        self.holders.setdefault(entity, {})[key] = source
        self.held.setdefault(entity, {})[key] = record
        self.listed.setdefault((source, entity), {})[key] = encode_record(entity, record)

    def forget(self, source: str, entity: str, key: str) -> bool:
        self.listed.get((source, entity), {}).pop(key, None)
        if self.holders.get(entity, {}).get(key) == source:
            del self.holders[entity][key]
            del self.held[entity][key]
            return True
        return False


@pytest.mark.parametrize("seed", range(40))
def test_holders_agree_with_keeping_every_holder_and_digest(seed: int) -> None:
    """Random deliveries (new, changed or unchanged) and deletions by three sources over
    a few keys of an entity and of a child entity: which deliveries are unchanged, who
    holds every key, the records held, what each source lists and what forgetting drops
    are the same as with every record's holder and every delivery's digest kept."""
    rng = random.Random(seed)
    sources, weights = ("a", "b", "c"), (6, 2, 1)  # mostly the first source, as in a hall
    holders, plain = Holders(Records()), PlainHolders()
    for _ in range(150):
        source = rng.choices(sources, weights)[0]
        entity = rng.choice(list(MAKE))
        if rng.random() < 0.65:
            keys = rng.sample(KEYS[entity], rng.randint(1, 3))
            delivered = [(k, MAKE[entity](k, rng.randrange(3))) for k in keys]
            changed = []
            for key, record in delivered:
                assert record_key(entity, record) == key
                same = plain.unchanged(source, entity, key, record)
                assert holders.unchanged(source, entity, key, record) == same, (key, source)
                if not same:
                    changed.append((key, record))
            holders.hold(source, entity, iter(changed))
            for key, record in changed:
                plain.hold(source, entity, key, record)
        else:
            key = rng.choice(KEYS[entity])
            assert holders.forget(source, entity, key) == plain.forget(source, entity, key)
        for entity in MAKE:
            for key in KEYS[entity]:
                assert holders.holder(entity, key) == plain.holders.get(entity, {}).get(key)
                assert holders.records.get(entity, key) == plain.held.get(entity, {}).get(key)
            for source in sources:
                assert holders.listed(source, entity) == set(plain.listed.get((source, entity), {}))


def test_a_second_source_of_the_same_key_holds_it_until_the_first_delivers_again() -> None:
    holders = Holders(Records())
    holders.hold("approval", "tickets", iter([("T1", ticket("T1", 1)), ("T2", ticket("T2", 1))]))
    holders.hold("legacy", "tickets", iter([("T2", ticket("T2", 2))]))
    assert holders.holder("tickets", "T1") == "approval"
    assert holders.holder("tickets", "T2") == "legacy"
    assert holders.records.tickets["T2"] == ticket("T2", 2)
    # The approval system's own last delivery is still known: unchanged, it is skipped.
    assert holders.unchanged("approval", "tickets", "T2", ticket("T2", 1))
    assert not holders.unchanged("approval", "tickets", "T2", ticket("T2", 2))
    # The legacy system no longer lists it: the record is dropped, though the approval
    # system still lists it (unchanged, it is not delivered again).
    assert holders.forget("legacy", "tickets", "T2")
    assert holders.holder("tickets", "T2") is None and "T2" not in holders.records.tickets
    assert holders.listed("approval", "tickets") == {"T1", "T2"}
    holders.hold("approval", "tickets", iter([("T2", ticket("T2", 3))]))
    assert holders.holder("tickets", "T2") == "approval"
    assert not holders.forget("legacy", "tickets", "T1")  # never its
    assert holders.holder("tickets", "T1") == "approval"
    assert holders.holder("cases", "T1") is None


def test_one_source_keeps_nothing_beside_the_records() -> None:
    """An entity with one source: the records held are all its bookkeeping."""
    holders = Holders(Records())
    holders.hold("window", "tickets", iter([(f"T{i}", ticket(f"T{i}", 1)) for i in range(3)]))
    holders.hold("approval", "steps", iter([("C1/1", step("C1/1", 1))]))
    assert holders._others == {"tickets": {}, "steps": {}} and holders._shadows == {}
    assert holders.unchanged("window", "tickets", "T1", ticket("T1", 1))
    assert not holders.unchanged("window", "tickets", "T1", ticket("T1", 2))
    assert not holders.unchanged("window", "tickets", "T9", ticket("T9", 1))
    assert holders.unchanged("approval", "steps", "C1/1", step("C1/1", 1))
    assert holders.listed("approval", "steps") == {"C1/1"}

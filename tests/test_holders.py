"""monitor.holders: who holds each record, kept only where it is not the first source."""

from __future__ import annotations

import random

import pytest

from monitor.holders import Holders, payload_digest


class PlainHolders:
    """The bookkeeping Holders replaces: every record's holder kept by key."""

    def __init__(self) -> None:
        self.holders: dict[str, dict[str, str]] = {}
        self.listed: dict[tuple[str, str], dict[str, int]] = {}

    def hold(self, source: str, entity: str, key: str, digest: int) -> None:
        self.holders.setdefault(entity, {})[key] = source
        self.listed.setdefault((source, entity), {})[key] = digest

    def forget(self, source: str, entity: str, key: str) -> bool:
        self.listed.get((source, entity), {}).pop(key, None)
        if self.holders.get(entity, {}).get(key) == source:
            del self.holders[entity][key]
            return True
        return False


@pytest.mark.parametrize("seed", range(40))
def test_holders_agree_with_keeping_every_holder(seed: int) -> None:
    """Random deliveries and deletions by three sources over a few keys of two entities:
    the holder of every key, what each source lists and what forgetting drops are the
    same as with every record's holder kept."""
    rng = random.Random(seed)
    sources, entities, keys = ("a", "b", "c"), ("cases", "tickets"), [f"K{i}" for i in range(6)]
    weights = (6, 2, 1)  # mostly the first source, as in a hall
    holders, plain = Holders(), PlainHolders()
    for _ in range(120):
        source = rng.choices(sources, weights)[0]
        entity = rng.choice(entities)
        if rng.random() < 0.6:
            delivered = [(k, rng.randrange(1000)) for k in rng.sample(keys, rng.randint(1, 3))]
            holders.hold(source, entity, iter(delivered))
            for key, digest in delivered:
                plain.hold(source, entity, key, digest)
        else:
            key = rng.choice(keys)
            assert holders.forget(source, entity, key) == plain.forget(source, entity, key)
        for entity in entities:
            for key in keys:
                assert holders.holder(entity, key) == plain.holders.get(entity, {}).get(key)
            for source in sources:
                assert holders.digests(source, entity) == plain.listed.get((source, entity), {})
    expected = {
        entity: sum(len(d) for (_, e), d in plain.listed.items() if e == entity)
        for entity in entities
    }
    assert {e: n for e, n in holders.counts().items() if n} == {
        e: n for e, n in expected.items() if n
    }


def test_a_second_source_of_the_same_key_holds_it_until_the_first_delivers_again() -> None:
    holders = Holders()
    holders.hold("approval", "cases", iter([("BJ001", 1), ("BJ002", 2)]))
    holders.hold("legacy", "cases", iter([("BJ002", 3)]))
    assert holders.holder("cases", "BJ001") == "approval"
    assert holders.holder("cases", "BJ002") == "legacy"
    # The legacy system no longer lists it: the record is dropped, though the approval
    # system still lists it (unchanged, it is not delivered again) — as before.
    assert holders.forget("legacy", "cases", "BJ002")
    assert holders.holder("cases", "BJ002") is None
    assert holders.digests("approval", "cases") == {"BJ001": 1, "BJ002": 2}
    holders.hold("approval", "cases", iter([("BJ002", 4)]))
    assert holders.holder("cases", "BJ002") == "approval"
    assert not holders.forget("legacy", "cases", "BJ001")  # never its
    assert holders.holder("cases", "BJ001") == "approval"
    assert holders.holder("tickets", "BJ001") is None


def test_payload_digest_is_a_56_bit_int_of_the_payload() -> None:
    digest = payload_digest('{"id":"BJ001"}')
    assert isinstance(digest, int) and 0 <= digest < 2**56
    assert digest == payload_digest('{"id":"BJ001"}')
    assert digest != payload_digest('{"id":"BJ002"}')

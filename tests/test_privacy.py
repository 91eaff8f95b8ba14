"""Tests of ApplicantHasher: stable, normalised, opaque keys for applicant identities."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from monitor.privacy import ApplicantHasher

KEY = b"test-key-0123456789abcdef0123456"
ID_NUMBER = "11010519491231002X"
OTHER_ID = "110105194912310037"


@pytest.fixture
def hasher() -> ApplicantHasher:
    return ApplicantHasher(KEY)


def test_same_identity_same_key(hasher: ApplicantHasher) -> None:
    first = hasher.key_for(ID_NUMBER)
    assert first is not None
    assert hasher.key_for(ID_NUMBER) == first
    assert ApplicantHasher(KEY).key_for(ID_NUMBER) == first  # another instance, same key


def test_key_shape(hasher: ApplicantHasher) -> None:
    key = hasher.key_for(ID_NUMBER)
    assert key is not None
    assert re.fullmatch(r"ak_[0-9a-f]{32}", key)


@pytest.mark.parametrize(
    "variant",
    [
        "11010519491231002x",  # lowercase check digit
        "  11010519491231002X  ",  # surrounding spaces
        "\t11010519491231002X\n",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and letter (NFKC)
        "１１０１０５１９４９１２３１００２ｘ",
        "\u300011010519491231002X\u3000",  # ideographic spaces
    ],
)
def test_normalisation(hasher: ApplicantHasher, variant: str) -> None:
    assert hasher.key_for(variant) == hasher.key_for(ID_NUMBER)


def test_non_string_identity_is_read_as_text(hasher: ApplicantHasher) -> None:
    assert hasher.key_for(110105194912310037) == hasher.key_for(OTHER_ID)


def test_different_identities_different_keys(hasher: ApplicantHasher) -> None:
    keys = {hasher.key_for(i) for i in (ID_NUMBER, OTHER_ID, "张三", "李四", "张 三")}
    assert len(keys) == 5


def test_different_hash_keys_different_hashes() -> None:
    a = ApplicantHasher(KEY).key_for(ID_NUMBER)
    b = ApplicantHasher(b"another-key").key_for(ID_NUMBER)
    assert a != b


@pytest.mark.parametrize("identity", [ID_NUMBER, OTHER_ID, "张三", "ZHANG San", "123456"])
def test_output_never_contains_the_input(hasher: ApplicantHasher, identity: str) -> None:
    key = hasher.key_for(identity)
    assert key is not None
    assert identity not in key
    assert identity.upper() not in key
    assert identity.lower() not in key
    # Not even a long piece of it.
    pieces = {identity[i : i + 8] for i in range(max(1, len(identity) - 7))}
    assert not any(piece in key for piece in pieces)


@pytest.mark.parametrize("identity", [None, "", "   ", "\u3000", "\t\n"])
def test_none_and_empty_are_none(hasher: ApplicantHasher, identity: object) -> None:
    assert hasher.key_for(identity) is None


def test_missing_key_warns_and_still_works() -> None:
    with capture_logs() as logs:
        hasher = ApplicantHasher(None)
    warnings = [e for e in logs if e["event"] == "applicant_hash_key_missing"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    key = hasher.key_for(ID_NUMBER)
    assert key is not None and re.fullmatch(r"ak_[0-9a-f]{32}", key)
    assert hasher.key_for(" 11010519491231002x ") == key  # stable within the process
    assert ID_NUMBER not in str(logs)


def test_missing_key_is_random_per_instance() -> None:
    with capture_logs():
        a = ApplicantHasher(None).key_for(ID_NUMBER)
        b = ApplicantHasher(None).key_for(ID_NUMBER)
    assert a != b


def test_given_key_does_not_warn() -> None:
    with capture_logs() as logs:
        ApplicantHasher(KEY).key_for(ID_NUMBER)
    assert logs == []


def test_a_key_given_again_from_memory_is_the_same(hasher: ApplicantHasher) -> None:
    first = hasher.key_for("330106199001011234")
    assert hasher.key_for("330106199001011234") == first
    assert hasher.key_for(" 330106199001011234 ") == first  # normalised, then the same
    # Equal numbers of other types are read as their own text, never from memory.
    assert hasher.key_for(1) == hasher.key_for("1")
    assert hasher.key_for(1.0) == hasher.key_for("1.0") != hasher.key_for(1)

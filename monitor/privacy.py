"""Keyed hashing of applicant identities, so people can be matched but never read.

The supervision rules need to know that two cases have *the same applicant* (两头受理),
never *who* the applicant is. Sources replace the ID number (or, lacking one, the name)
with an HMAC-SHA256 under a secret key at the moment a row is read; the clear value is
not stored, logged or exported. Without the key the hash cannot be reversed by trying
all 18-digit ID numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

import structlog

log = structlog.get_logger(__name__)

_RECENT = 65_536  # identities whose keys are kept
_UNKNOWN = object()


class ApplicantHasher:
    """Turns an ID number or name into a stable opaque key."""

    def __init__(self, key: bytes | None) -> None:
        if key is None:
            log.warning(
                "applicant_hash_key_missing",
                consequence="a random per-process key is used; set JIANCHA_APPLICANT_HASH_KEY",
            )
            key = secrets.token_bytes(32)
        self._key = key
        # Recent identities' keys: a hall's applicants come back (tickets, then the case,
        # the fee, the rating), and the overlap window reads rows again. Bounded; held in
        # memory only, like the rows being mapped.
        self._recent: dict[str, str | None] = {}

    def key_for(self, identity: object) -> str | None:
        if identity is None:
            return None
        if type(identity) is not str:  # 1 == 1.0, yet their texts differ: no cache
            return self._key_for(identity)
        known = self._recent.get(identity, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        key = self._key_for(identity)
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        self._recent[identity] = key
        return key

    def _key_for(self, identity: object) -> str | None:
        text = unicodedata.normalize("NFKC", str(identity)).strip().upper()
        if not text:
            return None
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"ak_{digest[:32]}"

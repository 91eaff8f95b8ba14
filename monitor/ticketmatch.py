"""Ticket matching in bulk: :func:`rules.offsystem.unmatched_searches` over arrays.

A full evaluation matches every served ticket of the hall against every case (about a
million of each in a province). The rule's own matching builds a scope tuple per case
and scope, a sorted list of cases per scope and a skip list per scope, all of Python
objects; :func:`unmatched` does the same greedy matching with the scopes factorised to
integers, the instants as integer microseconds (exact: no instant is rounded) and the
cases of every scope in one sorted array, so that only the greedy walk itself — one
short loop per ticket over plain integers — is left to Python.

It must give exactly what the rule gives: the same tickets unmatched. The walk is the
rule's (:class:`rules.offsystem._Slots`): tickets in the order of (deadline, start,
ticket id), first the keyed ones in their applicant's scope, then the rest at their
place (a keyed ticket among cases without a key, another among any case), each taking
the earliest case not yet used among the scope's cases sorted by (acceptance, case id)
between its start and its deadline. ``tests/test_ticket_match.py`` holds it to the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from operator import attrgetter

import numpy as np

from monitor.model import Case
from rules.offsystem import TicketSearch

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


def micros(instants: Sequence[dt.datetime]) -> np.ndarray:
    """Aware instants as int64 microseconds since the epoch, exactly.

    ``timestamp()`` is the exact count of microseconds divided by a million, correctly
    rounded (53 bits hold any instant of this era to a quarter of a microsecond), so
    rounding it back gives the count itself."""
    seconds = np.array([i.timestamp() for i in instants], dtype=np.float64)
    return np.rint(seconds * 1e6).astype(np.int64)


MatchKey = tuple[dt.datetime, dt.datetime | None, str | None, str | None, str | None]


# What ticket matching reads of a case, its acceptance time first: a case's MatchKey.
match_key: Callable[[Case], MatchKey] = attrgetter(
    "accepted_at", "recorded_at", "window", "department", "applicant_key"
)


def _codes(values: Sequence[str | None], table: dict[str, int]) -> np.ndarray:
    """Each value's number in ``table`` (new values numbered as they come); None is -1."""
    get = table.setdefault
    return np.array([-1 if v is None else get(v, len(table)) for v in values], dtype=np.int64)


def _ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's rank among ``ids`` (distinct), as Python orders strings."""
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids), dtype=np.int64)
    return ranks


def unmatched(
    searches: Sequence[TicketSearch],
    case_ids: Sequence[str],
    keys: Sequence[MatchKey],
    at: dt.datetime,
) -> list[TicketSearch]:
    """:func:`rules.offsystem.unmatched_searches` of these searches and cases (each case's
    id and :func:`match_key`) at ``at``; the searches are those
    (:func:`rules.offsystem.ticket_search`) of tickets finished by then. In the rule's
    order: deadline, start, ticket id."""
    if not searches:
        return []
    at_us = int(micros([at])[0])
    windows: dict[str, int] = {}  # places ("window", code) and ("department", code)
    departments: dict[str, int] = {}
    applicants: dict[str, int] = {}

    # The searches: place, applicant's place (if keyed), instants; the rule's order.
    tickets, starts, dues, _, places_of, own = zip(*searches, strict=True)  # fields in order
    s_window = _codes([c if k == "window" else None for k, c in places_of], windows)
    s_dept = _codes([c if k == "department" else None for k, c in places_of], departments)
    # ``own``: each search's applicant_place, ("applicant", key, kind, code) or None.
    s_key = _codes([None if p is None else p[1] for p in own], applicants)
    a_window = _codes([p[3] if p is not None and p[2] == "window" else None for p in own], windows)
    a_dept = _codes(
        [p[3] if p is not None and p[2] == "department" else None for p in own], departments
    )
    keyed = np.array([bool(t.applicant_key) for t in tickets], dtype=bool)
    start = micros(starts)
    due = micros(dues)
    ticket_order = np.lexsort((_ranks([t.id for t in tickets]), start, due))

    # The cases known at ``at``: acceptance, window, department, key.
    accepted_at, recorded_at, c_windows, c_depts, c_keys = (
        zip(*keys, strict=True) if keys else ((), (), (), (), ())
    )
    accepted = micros(accepted_at)
    recorded = np.array([r is None or r <= at for r in recorded_at], dtype=bool)
    known = np.flatnonzero((accepted <= at_us) & recorded)
    c_window = _codes(c_windows, windows)[known]
    c_dept = _codes(c_depts, departments)[known]
    c_key = _codes(c_keys, applicants)[known]

    # Scopes as numbers over the places (windows, then departments): any(place) = place,
    # keyless(place) = places + place, applicant(key, place) = places * (2 + key) + place.
    places = len(windows) + len(departments)

    def place_of(window: np.ndarray, dept: np.ndarray) -> np.ndarray:
        return np.where(window >= 0, window, np.where(dept >= 0, len(windows) + dept, -1))

    s_place = place_of(s_window, s_dept)
    s_own = np.where(s_key >= 0, places * (2 + s_key) + place_of(a_window, a_dept), -1)
    s_other = np.where(keyed, places + s_place, s_place)
    # Each known case in each of its scopes (rules.offsystem._case_scopes): per place it
    # has (window, department), any(place) and keyless(place) or applicant(key, place).
    scope_parts: list[np.ndarray] = []
    case_parts: list[np.ndarray] = []
    for place in (c_window, np.where(c_dept >= 0, len(windows) + c_dept, -1)):
        has = place >= 0
        where, key = place[has], c_key[has]
        scope_parts += [where, np.where(key >= 0, places * (2 + key) + where, places + where)]
        case_parts += [known[has], known[has]]
    scope = np.concatenate(scope_parts)
    case = np.concatenate(case_parts)
    entries, searched = len(scope), len(searches)

    # Dense numbers of scopes and instants, so that (scope, instant) is one int64 key.
    _, scope_dense = np.unique(np.concatenate([scope, s_own, s_other]), return_inverse=True)
    instants, time_dense = np.unique(
        np.concatenate([accepted[case], start, due]), return_inverse=True
    )
    span = len(instants)
    e_scope, e_time = scope_dense[:entries], time_dense[:entries]
    own_scope = scope_dense[entries : entries + searched]
    other_scope = scope_dense[entries + searched :]
    s_start = time_dense[entries : entries + searched]
    s_due = time_dense[entries + searched :]
    # Each scope's cases sorted by acceptance then case id, as _Slots sorts them.
    order = np.lexsort((_ranks(case_ids)[case], e_time, e_scope))
    e_key = (e_scope * span + e_time)[order]
    own_first = np.searchsorted(e_key, own_scope * span + s_start).tolist()
    own_last = (own_scope * span + s_due).tolist()
    other_first = np.searchsorted(e_key, other_scope * span + s_start).tolist()
    other_last = (other_scope * span + s_due).tolist()
    has_own = (s_own >= 0).tolist()

    # The walk: _Slots.take over the entries of all scopes at once (a scope's entries are
    # consecutive; its last instant bounds the walk before the next scope's).
    key_list = e_key.tolist()
    case_list = case[order].tolist()
    count = len(key_list)
    after = list(range(count + 1))  # the next entry that may still be free
    used = [False] * len(case_ids)

    def find(index: int) -> int:
        root = index
        while after[root] != root:
            root = after[root]
        while after[index] != root:
            after[index], index = root, after[index]
        return root

    def take(first: int, last: int) -> bool:
        index = find(first)
        while index < count and key_list[index] <= last:
            number = case_list[index]
            after[index] = index + 1  # used now, or already used through another scope
            if not used[number]:
                used[number] = True
                return True
            index = find(index + 1)
        return False

    remaining = [
        n for n in ticket_order.tolist() if not (has_own[n] and take(own_first[n], own_last[n]))
    ]
    return [searches[n] for n in remaining if not take(other_first[n], other_last[n])]

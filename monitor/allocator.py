"""Fewer malloc arenas, so that memory one of the daemon's threads freed serves the others.

glibc's malloc gives each thread that contends for memory an arena of its own (up to
eight per core) and keeps what a thread frees in the arena it came from. The daemon's
work runs in threads: the scheduler's poll jobs map hundreds of thousands of rows each
(records, their payloads, the driver's buffers), the evaluation job judges them in
another. What a poll freed is then not where the evaluation allocates, and the process
grows by it. At 200 k cases, the sources polled at once in threads of their own, the
peak after a full evaluation was 0.84 GB with glibc's default and 0.76 GB with one or
two arenas — as low as with everything done in one thread. What differs is what
Python's own allocator hands on to malloc (dictionaries' tables, long strings, lists):
the objects up to 512 bytes it serves itself, from pools all threads share.

One arena, not the two often advised: the interpreter's lock already lets one thread
allocate at a time, and with two a thread may still be given the arena that holds
none of what the others freed (``tests/test_allocator.py``'s probe: 169 MiB with
glibc's default, 137 or 169 MiB with two arenas, 106 MiB with one).

This is what ``MALLOC_ARENA_MAX=1`` in the environment does, set from within so that no
deployment has to remember it; a value set in the environment is left as it is. It must
come before the process's first thread: an arena made before stays in use, and a thread
that ends leaves its arena to the next thread that starts.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 1
_M_ARENA_MAX = -8  # glibc's <malloc.h>


def limit_arenas(count: int = ARENAS) -> bool:
    """Ask glibc's malloc for at most ``count`` arenas from now on; whether it took it
    (False: ``MALLOC_ARENA_MAX`` is set in the environment, or the C library is not
    glibc, e.g. musl or macOS)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))

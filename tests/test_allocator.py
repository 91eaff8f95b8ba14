"""Fewer malloc arenas: what a thread freed serves the next thread's allocations.

Each check runs in a fresh interpreter: the setting is process-wide and, once a thread
has its own arena, stays so for that thread.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.allocator import limit_arenas

ROOT = Path(__file__).resolve().parents[1]

# Three polls at once, each in a thread of its own, as poll_all runs them: 32 MiB of
# 8 KiB strings each (from malloc: past Python's own allocator), freed but for one
# allocated after them, so that no thread's heap can shrink back; then an evaluation in
# another thread allocates as much as the three. The peak RSS in MiB.
PROBE = """
import re, sys, threading
from monitor.allocator import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas()
pins, kept = [], []
together = threading.Barrier(3)
def poll():
    held = [bytes(8192) for _ in range(4000)]
    together.wait()
    pins.append(bytes(8192))
    del held
def evaluation():
    kept.extend(bytes(8192) for _ in range(12000))
polls = [threading.Thread(target=poll) for _ in range(3)]
for thread in polls:
    thread.start()
for thread in polls:
    thread.join()
thread = threading.Thread(target=evaluation)
thread.start()
thread.join()
# VmHWM: this program's own peak (ru_maxrss would keep the forking pytest's, if higher).
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
"""

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def _peak_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@glibc
def test_memory_the_polls_freed_serves_the_evaluation() -> None:
    default, limited = _peak_mib("default"), _peak_mib("limit")
    # About the polls' 96 MiB less 32 apart (169 against 106 MiB here): the evaluation
    # reuses what all three polls freed, not only what one did.
    assert limited < default - 40, (default, limited)


@glibc
def test_an_arena_limit_set_in_the_environment_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_arenas()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_arenas()

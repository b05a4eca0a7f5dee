"""Interleaved min-of-N timing: robust on a machine other processes are loading.

Calls are timed one by one, the candidates alternating call by call (in an order rotated
every round), so a slow patch of the machine hits all of them alike and each single call is
short enough to often run undisturbed. The minimum per candidate is the cost least disturbed
by others; the median is reported alongside.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    best: float  # seconds per call, minimum over all calls
    median: float


def interleaved(candidates: dict[str, Callable[[], object]], *, rounds: int = 300,
                inner: int | dict[str, int] = 1, warmup: int = 5) -> dict[str, Timing]:
    """Time each candidate ``rounds`` times (``inner`` calls per sample), interleaved.

    ``inner`` may differ per candidate (a dict): a sample of several back-to-back calls
    models a hot path (a cache answering a stream of hits); one call per sample models a
    call that arrives after unrelated work.
    """
    names = list(candidates)
    per = inner if isinstance(inner, dict) else {}
    default = 1 if isinstance(inner, dict) else inner
    for name in names:
        for _ in range(warmup):
            candidates[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                fn = candidates[name]
                count = per.get(name, default)
                start = clock()
                for _ in range(count):
                    fn()
                samples[name].append((clock() - start) / count)
            if r % 50 == 49:
                gc.collect()
    finally:
        if gc_was:
            gc.enable()
    return {name: Timing(min(s), statistics.median(s)) for name, s in samples.items()}


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"

"""Running one piece of work in several threads released at the same moment, as racing replicas would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_together(count: int, work: Callable[[], T], timeout: float = 60) -> list[T]:
    """`work` in `count` threads started together; their results, or the first error raised in one of them."""
    start = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        except Exception as exc:  # a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == count, "a thread did not finish in time"
    return results

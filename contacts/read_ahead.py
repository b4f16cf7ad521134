"""Read ahead: draw an iterator's items in a thread while the caller works on the ones already drawn.

A report is parsed (Arrow kernels, which release the GIL) and staged (`COPY`, which waits on the database)
one batch after another; with the two in turn, one core idles while the other works. Drawing the next
batches in a thread overlaps them. The iterator must not touch the database: the connection, its
transaction and its temporary tables belong to the caller's thread.
"""

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
DEPTH = 2  # batches waiting, besides the one being used: memory stays a few batches whatever the file's size
_WAIT = 0.1  # seconds between looks at whether the consumer has gone


class _End:
    """The iterator is exhausted, or raised `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def read_ahead(items: Iterator[T], *, depth: int = DEPTH, name: str = "read-ahead") -> Iterator[T]:
    """Yield what `items` yields, in order, drawn up to `depth` ahead in a thread; its exceptions re-raised here.

    When the consumer stops early (an exception, a `break`), the thread stops at its next item and
    `items` is closed, so a file it reads is closed too.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    gone = threading.Event()

    def hand_over(item) -> bool:
        while not gone.is_set():
            try:
                ready.put(item, timeout=_WAIT)
                return True
            except queue.Full:
                continue
        return False

    def draw() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    break
        except BaseException as exc:  # re-raised in the consumer's thread, where it is handled
            hand_over(_End(exc))
        else:
            hand_over(_End())
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=draw, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        gone.set()
        worker.join()

"""torch's process-wide CPU thread count, set for a block and restored: the one helper inference and training use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0
_saved = 0


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `n` while any caller is inside, then restored (`n` None or 0: unchanged).

    Counted, so that concurrent calls from several threads restore the caller's value only when the last one leaves
    (a plain save/restore pair per call would interleave and leave `n` behind). While callers are inside, the count
    is the first caller's `n`.
    """
    if not n:
        yield
        return
    import torch

    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(n)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_saved)

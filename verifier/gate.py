"""At most ``--jobs`` requests on the wire at once, however many threads want one.

Why a gate rather than a thread count: a lockfile run keeps many threads (one per package in
flight) so that a thread waiting for its file's verification in a worker process never holds
back the next package's requests. The network bound ``--jobs`` promises the index is then
enforced here, per attempt, in the one place every request passes. After ``close`` (Ctrl-C) no
request starts: threads still waiting for a slot give up instead of asking the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from verifier.errors import NetworkError
from verifier.transport import Reply, Request, Sink, Transport


class Gate:
    """A counting gate with a ``close`` that wakes and refuses every waiter."""

    def __init__(self, size: int) -> None:
        self._cond = threading.Condition()
        self._free = max(1, size)
        self._closed = False
        self.on_wait: Callable[[], None] | None = None
        """Called as a request is about to go on the wire, so its thread waits for the network
        (``pipeline.Admission.network_wait``: a run whose answers all come from the cache then
        stays on one thread)."""

    def acquire(self, what: str) -> None:
        """Wait for a slot; ``NetworkError`` once the gate is closed."""
        hook = self.on_wait
        if hook is not None:
            hook()
        with self._cond:
            while self._free == 0 and not self._closed:
                self._cond.wait()
            if self._closed:
                raise NetworkError(f"{what}: not fetched: the run was interrupted")
            self._free -= 1

    def release(self) -> None:
        """Give a slot back."""
        with self._cond:
            self._free += 1
            self._cond.notify()

    def close(self) -> None:
        """Refuse every request from now on, waking the threads that wait for a slot."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Gated:
    """A ``Transport`` layer: each attempt holds one slot of ``gate`` while on the wire."""

    def __init__(self, inner: Transport, gate: Gate) -> None:
        self._inner = inner
        self._gate = gate

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """One attempt of the inner transport, inside a slot."""
        self._gate.acquire(request.what)
        try:
            return self._inner.fetch(request, sink)
        finally:
            self._gate.release()

"""The request gate: at most N on the wire, and nothing after close (verifier.gate)."""

from __future__ import annotations

import threading
import time

import pytest

from verifier.errors import NetworkError
from verifier.gate import Gate, Gated
from verifier.transport import Headers, MemorySink, Reply, Request, Sink


class Counting:
    """A transport that holds each request until released, counting how many are inside."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.calls = 0
        self.go = threading.Event()

    def fetch(self, request: Request, sink: Sink) -> Reply:
        with self.lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        self.go.wait(10)
        with self.lock:
            self.inside -= 1
        return Reply(url=request.url, status=200, headers=Headers())


def request() -> Request:
    return Request(url="https://example.invalid/", what="a page", max_bytes=100)


def test_at_most_size_requests_are_inside_at_once() -> None:
    inner = Counting()
    gated = Gated(inner, Gate(2))
    threads = [
        threading.Thread(target=gated.fetch, args=(request(), MemorySink())) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while inner.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # a third request, were it let in, would be inside by now
    assert inner.inside == 2
    inner.go.set()
    for thread in threads:
        thread.join(10)
    assert inner.calls == 6
    assert inner.most == 2


def test_close_refuses_new_requests_and_wakes_the_waiting_ones() -> None:
    inner = Counting()
    gate = Gate(1)
    gated = Gated(inner, gate)
    errors: list[str] = []

    def one() -> None:
        try:
            gated.fetch(request(), MemorySink())
        except NetworkError as exc:
            errors.append(exc.message)

    first = threading.Thread(target=one)
    first.start()
    while inner.calls < 1:
        time.sleep(0.01)
    waiting = [threading.Thread(target=one) for _ in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)
    gate.close()
    for thread in waiting:
        thread.join(10)
        assert not thread.is_alive()
    assert errors == ["a page: not fetched: the run was interrupted"] * 3
    inner.go.set()
    first.join(10)
    assert inner.calls == 1
    with pytest.raises(NetworkError, match="the run was interrupted"):
        gated.fetch(request(), MemorySink())
    assert inner.calls == 1


def test_a_failed_request_gives_its_slot_back() -> None:
    class Failing:
        def fetch(self, request: Request, sink: Sink) -> Reply:
            raise NetworkError("down")

    gated = Gated(Failing(), Gate(1))
    for _ in range(3):
        with pytest.raises(NetworkError, match="down"):
            gated.fetch(request(), MemorySink())


def test_the_gate_says_when_a_request_is_about_to_go_on_the_wire() -> None:
    from verifier.gate import Gate

    calls: list[str] = []
    gate = Gate(2)
    gate.on_wait = lambda: calls.append("wait")
    gate.acquire("page")
    gate.release()
    assert calls == ["wait"]
    gate.on_wait = None
    gate.acquire("page")
    assert calls == ["wait"]

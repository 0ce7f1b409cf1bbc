"""Virtual time for end-to-end tests: minutes of calls in milliseconds, the same for a seed.

``VirtualTimeLoop`` is an asyncio event loop whose clock stands still while anything can run
and jumps to the next timer when nothing can: no callback is ready, no socket has data, and no
database query or worker thread is in flight. The runner's ``ScaledClock`` and the simulated
PBX's clock both read the loop's clock (``pbx.sim.clock.loop_time``), so the dialer, the drivers,
the answered-call servers and the simulated PBX all live in the same virtual time over real
loopback sockets and a real PostgreSQL.

Work outside the loop is waited for in real time before the clock may move: database queries
(pool connections made with :class:`CountingConnection`), ``run_in_executor`` /
``asyncio.to_thread`` calls and child processes. Loopback TCP delivers a write to the peer
before ``send`` returns, so a selector with nothing ready right now means a quiet system (no
real-time grace wait: a run of thousands of virtual instants costs no sleeping).

Outside work also ends at a fixed point, whatever the real time it takes: the reply to a query
is taken only when everything inside the process is quiet (no callback ready, no loopback data),
and replies are taken in the order the queries were sent (the oldest first). Without this a
database reply that comes back sooner on one run than on another would be handled before some
simulated PBX event on one run and after it on the other. Machine load then changes how long a
test takes, not what happens in it.

``@in_virtual_time`` runs an ``async def test_...(db, ...)`` body in its own virtual-time loop,
with ``db`` a pool opened inside that loop on the test's ``db_dsn`` database.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import select
import selectors
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from dialer_core.store.database import create_pool

EXTERNAL_POLL = 1.0  # real seconds per wait on outside work (a query, a thread) in flight
IN_ORDER_FOR = 2.0  # real seconds the oldest outside work may hold the others back (a lock wait)
STALLED_AFTER = 10.0  # real seconds of silence after which outside work no longer holds the clock


class _Outside:
    """One piece of outside work in flight and where its end arrives: a database connection's
    socket, a worker thread (through the loop's self-pipe) or, with ``fd`` None, anywhere."""

    def __init__(self, fd: int | None, thread: threading.Event | None = None) -> None:
        self.fd, self.thread = fd, thread
        self.held_since: float | None = None  # real time the loop began to wait for it


class _JumpingSelector(selectors.BaseSelector):
    """The loop's selector: real readiness, but an idle wait moves virtual time instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._inner = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj, events, data=None):  # noqa: ANN001, ANN201
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj):  # noqa: ANN001, ANN201
        return self._inner.unregister(fileobj)

    def modify(self, fileobj, events, data=None):  # noqa: ANN001, ANN201
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj):  # noqa: ANN001, ANN201
        return self._inner.get_key(fileobj)

    def get_map(self):  # noqa: ANN201
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None):  # noqa: ANN201
        held = self._loop.outside_fds()
        events = [e for e in self._inner.select(0) if e[0].fd not in held]
        if events or timeout == 0:
            return events
        if self._loop.inflight:  # the process is quiet: the oldest outside work ends now
            ready = self._oldest_outside()
            if ready or not self._stalled() or timeout is None:
                return ready
        if timeout is None:  # no timer at all: only the outside world can wake us
            return self._inner.select(None)
        self._loop.advance(timeout)
        return []

    def _stalled(self) -> bool:
        """Whether the oldest outside work has given nothing for ``STALLED_AFTER`` real
        seconds: it waits on the loop itself (a lock held by a task asleep on a virtual timer,
        a thread waiting for a coroutine), so time moves on rather than hang the test."""
        since = self._loop.inflight[0].held_since
        return since is not None and time.monotonic() - since > STALLED_AFTER

    def _oldest_outside(self):  # noqa: ANN202
        """Wait in real time for the oldest outside work's next data (its reply, its thread's
        end), or for data from outside on a socket no outside work holds (an in-process relay's
        link to the database); after ``IN_ORDER_FOR`` real seconds (a query waiting on a lock
        that a younger one holds) any outside data is taken."""
        work = self._loop.inflight[0]
        work.held_since = work.held_since or time.monotonic()
        if work.fd is None or time.monotonic() - work.held_since > IN_ORDER_FOR:
            return self._inner.select(EXTERNAL_POLL)
        if work.thread is not None and not work.thread.wait(EXTERNAL_POLL):
            return []
        younger = self._loop.outside_fds() - {work.fd}
        keys = {k.fd: k for k in self._inner.get_map().values() if k.fd not in younger}
        poller = select.poll()
        for fd, key in keys.items():
            read = select.POLLIN if key.events & selectors.EVENT_READ else 0
            poller.register(
                fd, read | (select.POLLOUT if key.events & selectors.EVENT_WRITE else 0)
            )
        ready = []
        for fd, revents in poller.poll(EXTERNAL_POLL * 1000):
            key, mask = keys[fd], 0
            if revents & (select.POLLIN | select.POLLHUP | select.POLLERR):
                mask |= selectors.EVENT_READ
            if revents & (select.POLLOUT | select.POLLHUP | select.POLLERR):
                mask |= selectors.EVENT_WRITE
            if mask & key.events:
                ready.append((key, mask & key.events))
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock (see the module docstring)."""

    def __init__(self) -> None:
        self._now = 0.0
        self.inflight: list[_Outside] = []  # outside work in flight, oldest first
        super().__init__(_JumpingSelector(self))

    @property
    def external(self) -> int:
        """How many queries, threads and child processes are in flight."""
        return len(self.inflight)

    def outside_fds(self) -> set[int]:
        """Where the outside work in flight ends: its data waits for its turn."""
        return {work.fd for work in self.inflight if work.fd is not None}

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)

    async def outside(self, work: Awaitable[Any], fd: int | None = None) -> Any:
        """Await ``work`` done outside the loop, its end arriving on ``fd``; the clock holds
        still until it is done."""
        token = _Outside(fd)
        self.inflight.append(token)
        try:
            return await work
        finally:
            self.inflight.remove(token)

    def run_in_executor(self, executor, func, *args):  # noqa: ANN001, ANN201
        finished = threading.Event()

        def work() -> Any:
            try:
                return func(*args)
            finally:
                finished.set()

        token = _Outside(self._ssock.fileno(), finished)
        future = super().run_in_executor(executor, work)
        self.inflight.append(token)
        future.add_done_callback(lambda _future: self.inflight.remove(token))
        return future

    async def _make_subprocess_transport(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        """A child process is outside work until it exits (e.g. a speech engine rendering).

        Its end is awaited through the transport (``_wait``), not by replacing its exit
        callback: the child watcher's thread may already have scheduled the original callback
        when the transport is handed back (a child that exits at once), and that call would
        never release the clock."""
        transport = await super()._make_subprocess_transport(*args, **kwargs)
        token = _Outside(None)
        self.inflight.append(token)

        async def until_exit() -> None:
            try:
                await transport._wait()
            finally:
                self.inflight.remove(token)

        self.create_task(until_exit())
        return transport


class _CountingProtocol:
    """An asyncpg protocol whose awaited calls count as outside work on a virtual loop."""

    def __init__(self, protocol: Any, fd: int | None) -> None:
        self._protocol, self._fd = protocol, fd

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._protocol, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if not inspect.isawaitable(result):  # e.g. is_connected() from __del__: no loop
                return result
            loop = asyncio.get_running_loop()
            return loop.outside(result, self._fd) if isinstance(loop, VirtualTimeLoop) else result

        return call


class CountingConnection(asyncpg.Connection):
    """A connection whose queries hold a virtual clock still while PostgreSQL works."""

    def __init__(self, protocol: Any, transport: Any, *args: Any) -> None:
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else None
        super().__init__(_CountingProtocol(protocol, fd), transport, *args)


async def _settle(tasks: set[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def run_in_virtual_time(main: Awaitable[Any]) -> Any:
    """Run ``main`` to completion on a fresh virtual-time loop; the tasks it leaves are then
    cancelled and awaited, as ``asyncio.run`` does."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(_settle(left))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


async def connect_outside(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """``asyncpg.connect`` whose handshake and queries hold the virtual clock (a pool opening
    connections again after an outage; a test's own admin connection)."""
    loop = asyncio.get_running_loop()
    kwargs.setdefault("connection_class", CountingConnection)
    work = asyncpg.connect(*args, **kwargs)
    return await (loop.outside(work) if isinstance(loop, VirtualTimeLoop) else work)


async def open_pool(dsn: str, **options: Any) -> asyncpg.Pool:
    """A pool whose queries and new connections hold the virtual clock still (``options``: any
    other ``create_pool`` argument); all its connections are opened up front."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    return await loop.outside(
        create_pool(
            dsn,
            min_size=10,
            max_size=10,
            connection_class=CountingConnection,
            connect=connect_outside,
            **options,
        )
    )


def in_virtual_time(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in virtual time; a ``db`` it takes is a pool opened in that loop."""
    signature = inspect.signature(test)
    if "db" not in signature.parameters:  # no database: just the loop

        @functools.wraps(test)
        def run_plain(**kwargs: Any) -> None:
            run_in_virtual_time(test(**kwargs))

        del run_plain.__wrapped__
        run_plain.__signature__ = signature
        return run_plain
    wants_dsn = "db_dsn" in signature.parameters
    params = [
        p.replace(name="db_dsn") if p.name == "db" else p
        for p in signature.parameters.values()
        if not (wants_dsn and p.name == "db_dsn")
    ]

    async def body(kwargs: dict[str, Any]) -> None:
        dsn = kwargs["db_dsn"] if wants_dsn else kwargs.pop("db_dsn")
        pool = await open_pool(dsn)
        try:
            await test(db=pool, **kwargs)
        except BaseException:
            pool.terminate()  # a task the test left may hold a connection: do not wait for it
            raise
        # Not outside work: the clock moves on, so a task still holding a connection (waiting
        # on a timer) gets to release it.
        await pool.close()

    @functools.wraps(test)
    def run(**kwargs: Any) -> None:
        run_in_virtual_time(body(kwargs))

    del run.__wrapped__
    run.__signature__ = signature.replace(parameters=params)
    return run

"""A scripted SMS gateway on 127.0.0.1 for the SMS tests (a real aiohttp server)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Gateway:
    """Answers each POST with the next status of ``script`` (200 once it runs out)."""

    script: list[int] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering
    retry_after: str = ""
    requests: list[tuple[dict, dict]] = field(default_factory=list)  # (headers, JSON body)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else 200
        headers = {"Retry-After": self.retry_after} if self.retry_after and status >= 400 else {}
        text = "queued" if status < 300 else f"error {status}: number rejected"
        return web.Response(status=status, text=text, headers=headers)

    async def __aenter__(self) -> Gateway:
        app = web.Application()
        app.router.add_post("/send", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/send"
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/send"

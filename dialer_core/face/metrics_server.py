"""``pacedial run --metrics-port``: a tiny HTTP server exposing ``RunMetrics`` at /metrics."""

from __future__ import annotations

from aiohttp import web

from dialer_core.run_metrics import RunMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """Serves ``GET /metrics`` (Prometheus text) on ``host:port`` (port 0: any free port)."""

    def __init__(self, metrics: RunMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics, self.host, self.port = metrics, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
        )

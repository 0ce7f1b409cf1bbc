"""`pacedial run` metrics: freed channel → Originate pairs, histogram buckets, /metrics text."""

from __future__ import annotations

import aiohttp

from dialer_core.face.metrics_server import MetricsServer
from dialer_core.run_metrics import Histogram, RunMetrics


def test_each_originate_answers_the_oldest_freed_channel() -> None:
    m = RunMetrics()
    m.freed(10.000)
    m.freed(10.004)
    m.launched(1, 10.003)  # 3 ms after the first freed channel
    m.launched(3, 10.050)  # the second (46 ms); two more Originates answer no freed channel
    assert m.originates == 4 and m.decision.n == 2
    assert m.decision.counts[m.decision.bounds.index(0.005)] == 1  # 3 ms ≤ 5 ms bucket
    assert m.decision.counts[m.decision.bounds.index(0.05)] == 1  # 46 ms ≤ 50 ms bucket
    m.freed(11.0)
    m.forget_freed()  # launching stopped: that channel waits for no decision
    m.launched(1, 20.0)
    assert m.decision.n == 2


def test_histogram_quantiles_are_bucket_upper_bounds() -> None:
    h = Histogram()
    for ms in [1] * 98 + [30, 3000]:
        h.observe(ms / 1000)
    assert h.quantile(0.5) == 0.001 and h.quantile(0.99) == 0.05
    assert h.quantile(1.0) == 5.0


async def test_metrics_endpoint_serves_prometheus_text() -> None:
    m = RunMetrics(live=lambda: 7, queue_depth=lambda: 3, db_round_trip=lambda: 0.004)
    m.event()
    m.freed(1.0)
    m.launched(1, 1.015)
    server = MetricsServer(m)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            text = await resp.text()
    finally:
        await server.close()
    lines = set(text.splitlines())
    assert "pacedial_run_originates_total 1" in lines
    assert "pacedial_run_events_total 1" in lines
    assert "pacedial_run_live_channels 7" in lines
    assert "pacedial_run_write_queue_depth 3" in lines
    assert 'pacedial_run_freed_to_originate_seconds_bucket{le="0.01"} 0' in lines
    assert 'pacedial_run_freed_to_originate_seconds_bucket{le="0.02"} 1' in lines
    assert 'pacedial_run_freed_to_originate_seconds_bucket{le="+Inf"} 1' in lines
    assert "# TYPE pacedial_run_freed_to_originate_seconds histogram" in lines


def test_a_decision_accounts_every_channel_freed_before_it() -> None:
    m = RunMetrics()
    m.freed(10.0)
    m.freed(10.0035)
    m.decided(10.004)
    m.decided(10.5)  # nothing freed since: nothing to account
    assert m.to_decision.n == 2 and abs(m.to_decision.total - 0.0045) < 1e-9
    assert m.to_decision.quantile(0.99) == 0.005 and m.to_decision.quantile(0.5) == 0.001
    assert "pacedial_run_event_to_decision_seconds_count 2" in m.render()

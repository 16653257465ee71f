"""`controller watch --listen`: the watch loop served over HTTP (probes, status, metrics, the git webhook).

Why beside the loop and not a subclass of it: a served watch is the same loop (engine/watch.py)
with more observers (service/feeds.py, which keep what the endpoints serve current) and an
HTTP server whose webhook asks the loop for a pass. The server runs in its own threads, so a
scrape never waits for a pass and a pass never waits for a client.
"""

from __future__ import annotations

import asyncio

from controller.engine.watch import Observer, WatchLoop
from controller.service.feeds import NO_STATUS, MetricsFeed, StatusFeed
from controller.service.http import Health, ServiceServer, Snapshot
from controller.service.metrics import Metrics


class Endpoints:
    """What a served watch exposes on ``listen`` (host, port), and the observers that keep it current."""

    def __init__(self, listen: tuple[str, int], *, interval: float, webhook_secret: str | None):
        self.listen, self.interval, self.webhook_secret = listen, interval, webhook_secret
        self.metrics = Metrics()
        self.health = Health(interval)
        self.snapshot = Snapshot(NO_STATUS)

    def observers(self) -> list[Observer]:
        """To be placed before the view and the notifications (see service/feeds.py)."""
        return [MetricsFeed(self.metrics), StatusFeed(self.health, self.snapshot)]

    async def serve(self, watch: WatchLoop) -> int:
        """Run ``watch`` with the endpoints up; ``POST /hooks/git`` asks it for a pass (trigger ``webhook``)."""
        loop = asyncio.get_running_loop()

        def on_hook() -> None:  # runs in a server thread: only signal the loop
            loop.call_soon_threadsafe(watch.request, "webhook")

        host, port = self.listen
        server = ServiceServer(host, port, health=self.health, interval=self.interval, status=self.snapshot,
                               metrics=self.metrics, on_git_hook=on_hook, webhook_secret=self.webhook_secret)
        server.start()
        try:
            return await watch.run()
        finally:
            server.stop()

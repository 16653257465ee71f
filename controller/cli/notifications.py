"""`watch --notify-url`: the events people act on, POSTed as JSON with their text line.

Why here and not in service/: the body is the CLI's JSON view of the event plus its text
line, so a chat channel shows exactly what the log shows. Delivery is service/notify.py's
job and never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.cli.views import event_json, event_text
from controller.engine.events import Applied, Deleted, Drift, Event, Failed, RolledBack
from controller.service.notify import Notifier

NOTIFIED = (Applied, Deleted, RolledBack, Drift, Failed)


class NotifySink:
    """Passes every event on to ``then``; queues the notified kinds to the webhook.

    ``url`` is the flag; without it ``configured()`` is asked (controller.yaml ``notify``,
    known only once a workspace loaded, e.g. after the first git sync).
    """

    def __init__(self, then: Callable[[Event], None], url: str | None, configured: Callable[[], str | None]):
        self.then, self.url, self.configured = then, url, configured
        self.notifier: Notifier | None = None

    def __call__(self, event: Event) -> None:
        self.then(event)
        if not isinstance(event, NOTIFIED):
            return
        if self.notifier is None:
            url = self.url or self.configured()
            if not url:
                return
            self.notifier = Notifier(url)
        text = " / ".join(line for _, line in event_text(event))
        self.notifier.send(event_json(event), text)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close(timeout=5.0)

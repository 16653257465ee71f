"""`watch --notify-url`: the events people act on, POSTed as JSON with their text line.

Why here and not in service/: the body is the CLI's JSON view of the event plus its text
line, so a chat channel shows exactly what the log shows. Delivery is service/notify.py's
job and never blocks the loop.
"""

from __future__ import annotations

from controller.cli.views import event_json, event_text
from controller.engine.events import Applied, Deleted, Drift, Event, Failed, ManifestsAccepted, RolledBack
from controller.service.notify import Notifier

NOTIFIED = (Applied, Deleted, RolledBack, Drift, Failed)


class NotifySink:
    """An observer of the watch loop: queues the notified kinds of event to the webhook.

    ``url`` is the flag; without it, controller.yaml's ``notify`` of the manifests in force
    (known once a pass accepted them, e.g. after the first git sync).
    """

    def __init__(self, url: str | None):
        self.url = url
        self.configured: str | None = None
        self.notifier: Notifier | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ManifestsAccepted):
            config = event.settings.config
            self.configured = config.notify if config is not None else None
        if not isinstance(event, NOTIFIED):
            return
        if self.notifier is None:
            url = self.url or self.configured
            if not url:
                return
            self.notifier = Notifier(url)
        text = " / ".join(line for _, line in event_text(event))
        self.notifier.send(event_json(event), text)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close(timeout=5.0)

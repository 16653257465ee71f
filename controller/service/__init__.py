"""Building blocks for running the controller unattended (``controller watch --git URL``).

Each module does one job and knows nothing of the watch loop that wires them:

- :mod:`controller.service.gitsource` keeps a local checkout of a git repository at
  the commit a ref points to;
- :mod:`controller.service.notify` posts events to a webhook without ever slowing
  down or failing the loop.

The state lock lives with the target it protects (:mod:`controller.targets.lock`).
"""

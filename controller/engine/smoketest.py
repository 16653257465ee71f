"""``controller test``: the smoke cases of the active versions, and the verdict they give.

A version's verdict is recorded only when these are its own cases (:func:`verdicts.record`
never brands a version with cases other than those it was judged with), so testing an old
active version against new expectations reports a failure without marking it failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.config.settings import SMOKE_CONCURRENCY
from controller.core.errors import ControllerError
from controller.engine import verdicts
from controller.engine.desired import Desired, secrets_of
from controller.smoke.runner import SuiteResult, run_suite
from controller.targets.base import Target


async def smoke_active(target: Target, desired: Sequence[Desired], where: str, concurrency: int) -> SuiteResult:
    """Run the smoke cases of each of ``desired`` that has some on its active version, and
    record each version's verdict. An assistant not on the target is an error (nothing runs)."""
    tested = [d for d in desired if d.smoke]
    live = await target.get_many({d.assistant_id for d in tested})
    missing = [d.name for d in tested if d.assistant_id not in live]
    if missing:
        raise ControllerError(f"not on {where}: {', '.join(missing)} (run controller apply first)")
    # what runs is the live content: its values at sensitive paths are secrets too
    secrets = {d.name: secrets_of(d.sensitive, d.content, live[d.assistant_id].content) for d in tested}
    suite = await run_suite(target, [(d.name, d.assistant_id, list(d.smoke)) for d in tested],
                            concurrency=min(concurrency, SMOKE_CONCURRENCY), secrets=secrets)
    for d in tested:
        state = live[d.assistant_id]
        ok = all(r.passed for r in suite.results if r.assistant == d.name)
        await verdicts.record(target, d.assistant_id, state.version, state.content,
                              verdicts.PASSED if ok else verdicts.FAILED, verdicts.cases_key(d.smoke))
    return suite

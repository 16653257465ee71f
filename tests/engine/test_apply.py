"""engine/apply.py's decisions a plan cannot make: an update whose answer was lost, one that timed
out and may still land, one resent within a retry budget. (A failed create, --keep-failed and
smoke candidates, end to end: cli/test_apply.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.core.content import OWNER_KEY, WRITE_KEY, Content, assistant_id_for, mirrored
from controller.core.errors import UncertainWrite
from controller.engine.apply import apply_plan
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan
from controller.targets.embedded import EmbeddedTarget

OWNER = "demo-agents"


def writer(style: str) -> Content:
    config, context = mirrored({"configurable": {"style": style}}, {})
    return Content("writer", "w", None, config, context, {OWNER_KEY: OWNER, "controller/name": "w"})


class FlakyUpdates(EmbeddedTarget):
    """Raises UncertainWrite on the first update, after (``landed``) or without writing it."""

    def __init__(self, *args: Any, landed: bool):
        super().__init__(*args)
        self.landed, self.updates = landed, 0

    async def update(self, assistant_id: str, content: Content) -> Any:
        self.updates += 1
        if self.updates == 1:
            if self.landed:
                await super().update(assistant_id, content)
            raise UncertainWrite("the answer was lost")
        return await super().update(assistant_id, content)


@pytest.mark.parametrize("landed", [True, False])
def test_an_uncertain_update_is_re_read_and_never_doubled(tmp_path: Path, test_project: Path, landed: bool) -> None:
    """The PATCH may have landed: apply re-reads; one new version either way, never two."""
    async def body() -> None:
        target = FlakyUpdates(str(tmp_path / "s.db"), str(test_project / "langgraph.json"), landed=landed)
        aid = assistant_id_for(OWNER, "w")
        await target.create(aid, writer("blog"))
        change = Change("update", Declaration("w", aid), seen_version=1, before=writer("blog"), content=writer("tweet"))
        result = await apply_plan(target, Plan(OWNER, "t", (change,)))
        live = await target.get(aid, versions=True)
        await target.aclose()
        assert result.exit_code == 0 and result.outcomes[0].status == "applied"
        assert live is not None and live.version == 2 and [v.number for v in live.versions or ()] == [2, 1]
        assert live.content.config["configurable"]["style"] == "tweet"
        assert target.updates == (1 if landed else 2)

    asyncio.run(body())


class LateUpdates(EmbeddedTarget):
    """The first ``fail`` updates raise UncertainWrite as the remote target would; each lands
    ``land_after`` seconds later (None: never). Later updates go through at once."""

    def __init__(self, *args: Any, fail: int, land_after: float | None, in_flight: bool, settle: float, retries: int = 5):
        super().__init__(*args)
        self.fail, self.land_after, self.updates = fail, land_after, 0
        self.exc = {"settle": settle, "in_flight": in_flight, "retries": retries}
        self.late: list[asyncio.Task] = []
        self.write_ids: list[str] = []

    async def update(self, assistant_id: str, content: Content) -> Any:
        self.updates += 1
        self.write_ids.append(content.metadata[WRITE_KEY])
        if self.updates > self.fail:
            return await super().update(assistant_id, content)
        if self.land_after is not None:
            async def land(delay: float = self.land_after) -> None:
                await asyncio.sleep(delay)
                await super(LateUpdates, self).update(assistant_id, content)
            self.late.append(asyncio.create_task(land()))
        raise UncertainWrite("timed out waiting for the answer", **self.exc)


def late_apply(tmp_path: Path, test_project: Path, **kwargs: Any) -> tuple[Any, Any, LateUpdates]:
    async def body() -> tuple[Any, Any, LateUpdates]:
        target = LateUpdates(str(tmp_path / "s.db"), str(test_project / "langgraph.json"), **kwargs)
        aid = assistant_id_for(OWNER, "w")
        await target.create(aid, writer("blog"))
        change = Change("update", Declaration("w", aid), seen_version=1, before=writer("blog"), content=writer("tweet"))
        result = await apply_plan(target, Plan(OWNER, "t", (change,)))
        await asyncio.gather(*target.late)
        live = await target.get(aid, versions=True)
        await target.aclose()
        return result, live, target

    return asyncio.run(body())


def test_a_timed_out_write_seen_landing_within_its_window_is_done(tmp_path: Path, test_project: Path) -> None:
    result, live, target = late_apply(tmp_path, test_project, fail=1, land_after=0.3, in_flight=True, settle=10)
    assert result.exit_code == 0 and target.updates == 1  # watched for, never sent again
    assert [v.number for v in live.versions] == [2, 1]


def test_a_timed_out_write_not_seen_in_its_window_fails_and_is_never_sent_again(tmp_path: Path, test_project: Path) -> None:
    result, live, target = late_apply(tmp_path, test_project, fail=1, land_after=None, in_flight=True, settle=0.3)
    assert result.exit_code == 1 and target.updates == 1 and live.version == 1
    message = result.outcomes[0].message
    assert "\n" not in message and "may still land" in message
    assert f"to assistant {assistant_id_for(OWNER, 'w')}" in message and "the write " in message


@pytest.mark.parametrize("fail, updates, code", [(2, 3, 0), (9, 4, 1)], ids=["recovers", "budget-spent"])
def test_a_write_that_did_not_time_out_is_resent_with_a_new_id_within_the_retry_budget(
        tmp_path: Path, test_project: Path, fail: int, updates: int, code: int) -> None:
    result, live, target = late_apply(tmp_path, test_project, fail=fail, land_after=None, in_flight=False, settle=0.05,
                                      retries=3)
    assert result.exit_code == code and target.updates == updates
    assert len(set(target.write_ids)) == updates  # a new id each attempt
    assert [v.number for v in live.versions] == ([2, 1] if code == 0 else [1])

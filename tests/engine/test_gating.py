"""engine/gating.py: what a verdict is keyed on, and the order judges go in. (Gating itself,
through the CLI on both targets: cli/test_eval_gates.py.)"""

from __future__ import annotations

from pathlib import Path

from controller.config.manifest import EvalSpec
from controller.core.content import NAME_KEY, OWNER_KEY, Content, assistant_id_for
from controller.engine import planfile
from controller.engine.desired import Declaration
from controller.engine.gating import judges_first, verdict_key
from controller.engine.plan import Change, Plan
from controller.evals.dataset import Home

OWNER = "acme"
JUDGED = {"name": "answers", "dataset": "cases.yaml", "repeat": 2,
          "evaluators": [{"judge": {"assistant": "grader"}}], "gate": {"passRate": 0.9}}


def change(name: str, action: str = "update", evals: tuple[EvalSpec, ...] = (), home: str = "",
           after: tuple[str, ...] = ()) -> Change:
    declared = Declaration(name, assistant_id_for(OWNER, name), source=f"{home or name + '.yaml'}:1",
                           evaluations=evals, eval_homes=tuple(Home(home) for _ in evals))
    content = Content("g", name, None, {}, {}, {OWNER_KEY: OWNER, NAME_KEY: name})
    return Change(action, declared, seen_version=1, before=content, content=content, after=after)  # type: ignore[arg-type]


def test_a_verdict_is_keyed_on_the_datasets_cases_so_an_edited_dataset_is_a_new_test(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text("- {input: {q: 1}, reference: {a: 1}}\n- {name: two, input: {q: 2}}\n")
    bot = change("bot", evals=(EvalSpec.model_validate(JUDGED),), home=str(tmp_path / "bot.yaml"))
    first = verdict_key(bot)
    assert first != "" and first == verdict_key(bot)
    (tmp_path / "cases.yaml").write_text("- {input: {q: 1}, reference: {a: 2}}\n- {name: two, input: {q: 2}}\n")
    assert verdict_key(bot) != first
    assert verdict_key(change("plain")) == ""  # nothing judges it


def test_a_saved_plan_means_the_same_test_as_the_manifests_it_was_made_from(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text("- {input: {q: 1}, reference: {a: 1}}\n")
    bot = change("bot", evals=(EvalSpec.model_validate(JUDGED),), home=str(tmp_path / "bot.yaml"))
    saved = tmp_path / "p.plan"
    planfile.save(Plan(OWNER, "t", (bot,)), str(saved))
    (tmp_path / "cases.yaml").write_text("- {input: {q: 9}}\n")  # edited after the plan: the plan keeps its cases
    (loaded,) = planfile.load(str(saved), {}, {}).changes
    assert loaded.evals[0].dataset is None and loaded.evals[0].cases[0].input == {"q": 1}
    (tmp_path / "cases.yaml").write_text("- {input: {q: 1}, reference: {a: 1}}\n")
    assert verdict_key(loaded) == verdict_key(bot)


def test_judges_go_first_with_the_writes_they_wait_for() -> None:
    spec = EvalSpec.model_validate({**JUDGED, "dataset": None, "cases": [{"input": {}}]})
    freeing = change("old-grader", "delete")
    grader = change("grader", after=(freeing.assistant_id,))
    bot, other = change("bot", evals=(spec,)), change("other")
    stages = judges_first([bot, other, grader, freeing], {"grader"})
    assert [[c.name for c in stage] for stage in stages] == [["grader", "old-grader"], ["bot", "other"]]
    assert judges_first([bot, other], {"grader"}) == [[bot, other]]  # an unchanged judge: one stage, as before

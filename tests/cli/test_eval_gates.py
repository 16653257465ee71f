"""Evals gate `apply` and `watch` as smoke cases do, on the embedded target and on the real
`langgraph dev`: a worse version is rolled back (``smoke: after``) or never written
(``smoke: before``), the verdict each version gets carries its pass rate, judges go first.

The example's faq-bot is right with probability ``context.accuracy`` (a fake model inside a
real graph); 0.3 over 18 runs is refused by its gate (pass rate 0.9) in every seed. What
is on the target is read back with an independent reader (the embedded target opened
again, or langgraph-sdk).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import Watch, edit, example_repo, on_embedded, record_writes, remote_project, run, state
from remote_servers import search_all

from controller.core.content import CANDIDATE_KEY, assistant_id_for
from controller.targets.embedded import EmbeddedTarget

FAQ = Path("assistants/faq-bot.yaml")
GRADER = Path("assistants/faq-grader.yaml")
WORSE = ("accuracy: 1.0", "accuracy: 0.3")


def events(out: str) -> list[dict[str, Any]]:
    """The events of `-o json` output (the plan before them is a document of its own)."""
    return [e for e in map(json.loads, (line for line in out.splitlines() if line.startswith("{"))) if "event" in e]


def verdicts(capsys: pytest.CaptureFixture, name: str) -> dict[int, tuple[str, float | None]]:
    """`controller history NAME -o json`: each version's verdict and pass rate."""
    code, out, err = run(capsys, "history", name, "-o", "json")
    assert code == 0, out + err
    return {v["version"]: (v["smoke"], v["pass_rate"]) for v in json.loads(out)["versions"]}


def row(out: str, label: str) -> list[str]:
    """The cells of an eval table's row (``v2 (new)``: ["v2", "(new)", runs, passed, …])."""
    return next(line for line in out.splitlines() if line.strip().startswith(label)).split()


@pytest.fixture
def applied(project: Path, capsys: pytest.CaptureFixture) -> Path:
    """The example project applied, each change judged (faq-bot by its eval)."""
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0, out + err
    return project


# -- embedded ---------------------------------------------------------------------------------

def test_the_first_version_is_judged_by_its_eval_and_its_verdict_keeps_the_pass_rate(project, capsys):
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0, out + err
    assert "faq-bot › answers product questions (6 cases × 3 runs)" in out
    assert row(out, "v1 (active)")[2:6] == ["18", "18", "0", "1.00"]
    assert "gate: passed: pass rate 1.00 ≥ 0.9; no earlier version to compare with" in out
    assert "Smoke: 3 passed, 0 failed. Evals: 1 passed, 0 failed." in out
    assert verdicts(capsys, "faq-bot") == {1: ("passed", 1.0)}
    assert verdicts(capsys, "faq-grader") == {1: ("skipped", None)}  # nothing judges the judge


def test_after_a_worse_version_is_evaluated_against_the_one_before_and_rolled_back(applied, capsys):
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 3, out + err
    new, before = row(out, "v2 (new)"), row(out, "v1 (before)")
    assert new[2] == before[2] == "18" and before[3] == "18" and int(new[3]) < 16
    assert "difference" in out and "gate: FAILED: pass rate" in out and "more than the 0.1 allowed" in out
    assert "failing runs (v2):" in out and "judge faq-grader: score" in out
    assert "⟲ faq-bot: rolled-back: eval gate failed (answers product questions: pass rate" in err
    assert "; v1 made active again" in err
    assert out.rstrip().endswith("Evals: 0 passed, 1 failed. Failed changes were rolled back or not promoted.")
    faq = state(applied, "faq-bot")
    assert faq.version == 1 and faq.content.context["accuracy"] == 1.0
    judged = verdicts(capsys, "faq-bot")
    assert judged[1] == ("passed", 1.0) and judged[2][0] == "failed" and judged[2][1] < 0.9
    code, out, err = run(capsys, "history", "faq-bot")
    assert next(line for line in out.splitlines() if line.startswith("2 ")).split()[-2:] == \
        ["failed", f"{judged[2][1]:.0%}"]
    code, out, err = run(capsys, "status", "-o", "json")  # what /status serves too
    (row_,) = [a for a in json.loads(out)["assistants"] if a["name"] == "faq-bot"]
    assert (row_["version"], row_["smoke"], row_["pass_rate"], row_["smoke_failed"]) == (1, "passed", 1.0, False)
    code, out, err = run(capsys, "status")
    assert next(line for line in out.splitlines() if line.startswith("faq-bot ")).split()[4:6] == ["passed", "100%"]


def test_before_a_worse_candidate_is_evaluated_beside_the_active_version_and_never_written(applied, capsys):
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--smoke", "before")
    assert code == 3, out + err
    assert row(out, "candidate")[1] == "18" and row(out, "v1 (active)")[3] == "18"  # interleaved, same cases
    assert "✗ faq-bot: not-promoted: eval gate failed (answers product questions: pass rate" in err
    assert "on the candidate; nothing changed" in err
    faq = state(applied, "faq-bot")
    assert [v.number for v in faq.versions] == [1]
    owned = on_embedded(applied, lambda t: t.list_assistants({"controller/owner": "demo-agents"}))
    assert len(owned) == 5 and all(CANDIDATE_KEY not in a.content.metadata for a in owned)


def test_a_better_candidate_is_promoted_with_its_pass_rate(applied, capsys):
    edit(FAQ, "You answer customers'", "You kindly answer customers'")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--smoke", "before", "-o", "json")
    assert code == 0, out + err
    (evaluated,) = [e for e in events(out) if e["event"] == "eval"]
    assert evaluated["candidate"] is True and evaluated["version"] is None and evaluated["gate"]["ok"] is True
    assert evaluated["baseline"]["version"] == 1 and evaluated["baseline"]["runs"] == 18
    assert verdicts(capsys, "faq-bot") == {1: ("passed", 1.0), 2: ("passed", 1.0)}
    assert state(applied, "faq-bot").version == 2


def test_json_output_carries_the_eval_event_before_the_rollback(applied, capsys):
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "-o", "json")
    assert code == 3, out + err
    kinds = [(e["event"], e.get("name")) for e in events(out)]
    assert kinds.index(("eval", "answers product questions")) < kinds.index(("rolled-back", "faq-bot"))
    (evaluated,) = [e for e in events(out) if e["event"] == "eval"]
    assert {k: evaluated[k] for k in ("assistant", "version", "candidate", "runs")} == \
        {"assistant": "faq-bot", "version": 2, "candidate": False, "runs": 18}
    assert evaluated["baseline"]["version"] == 1 and evaluated["baseline"]["pass_rate"] == 1.0
    assert evaluated["gate"]["ok"] is False and evaluated["pass_rate"] < 0.9
    assert len(evaluated["interval"]) == 2 and set(evaluated["scores"]) >= {"expect", "judge faq-grader"}
    summary = next(e for e in events(out) if e["event"] == "summary")
    assert [o["status"] for o in summary["outcomes"] if o["name"] == "faq-bot"] == ["rolled-back"]


def test_no_smoke_skips_the_evals_and_the_verdict_says_so(applied, capsys):
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out + err
    assert "answers product questions" not in out and "Evals:" not in out
    assert state(applied, "faq-bot").version == 2
    assert verdicts(capsys, "faq-bot")[2] == ("skipped", None)


def test_a_judge_is_written_and_judged_before_the_assistants_it_grades(applied, capsys):
    edit(GRADER, "  description: Judges", "  smoke:\n    - name: a perfect answer scores 1\n"
         "      input: {input: {}, output: {answer: 30 days}, reference: {answer: 30 days}}\n"
         "      expect: [{path: score, equals: 1.0}]\n  description: Judges (strictly)")
    edit(FAQ, "You answer customers'", "You kindly answer customers'")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "-o", "json")
    assert code == 0, out + err
    order = [(e["event"], e.get("name")) for e in events(out) if e["event"] in ("applied", "smoke", "eval")]
    assert order == [("applied", "faq-grader"), ("smoke", "faq-grader"),
                     ("applied", "faq-bot"), ("eval", "answers product questions")]


def test_a_saved_plan_carries_its_evals_with_the_datasets_cases(applied, capsys):
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "plan", ".", "--out", "worse.plan")
    assert code == 0, out + err
    (saved,) = [c for c in json.loads(Path("worse.plan").read_text())["changes"] if c["name"] == "faq-bot"]
    (evaluation,) = saved["evals"]
    assert evaluation["dataset"] is None and [c["name"] for c in evaluation["cases"]][:2] == ["refund window",
                                                                                            "shipping time"]
    Path("evals/faq.yaml").unlink()  # what runs is what was reviewed, not the file as it is now
    code, out, err = run(capsys, "apply", "worse.plan")
    assert code == 3, out + err
    assert "(6 cases × 3 runs)" in out and "rolled-back: eval gate failed" in err
    assert state(applied, "faq-bot").version == 1


def test_a_broken_dataset_stops_the_apply_before_any_write(applied, capsys, monkeypatch):
    edit(FAQ, *WORSE)
    edit(Path("evals/faq.yaml"), "- name: shipping time\n", "- name: shipping time\n  inptu: {}\n")
    writes = record_writes(monkeypatch, EmbeddedTarget)
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 1, out + err
    assert "evals/faq.yaml:" in err and "inptu" in err
    assert writes == []


def test_watch_rolls_back_a_worse_version_then_holds_it_until_the_next_edit(tmp_path, owner):
    repo = example_repo(tmp_path / "repo", owner)
    watch = Watch(repo, interval="1s")
    try:
        watch.finished("the first pass", ok=True)
        edit(repo / FAQ, *WORSE)
        evaluated = watch.wait(lambda e: e["event"] == "eval", "the eval of the edited faq-bot")
        assert evaluated["version"] == 2 and evaluated["gate"]["ok"] is False and evaluated["baseline"]["version"] == 1
        watch.wait(lambda e: e["event"] == "rolled-back" and e["name"] == "faq-bot", "the rollback")
        watch.finished("the failed pass", ok=False, failed=["faq-bot"])
        held = watch.finished("a pass that holds the change", held=["faq-bot"])
        assert held["ok"] is False
        assert state(repo, "faq-bot", owner).version == 1
        assert not [e for e in watch.seen[watch.seen.index(evaluated) + 1:] if e["event"] == "eval"]  # not run again
        with (repo / "evals" / "faq.yaml").open("a") as dataset:  # a new test of the same content: tried again
            dataset.write("- {name: returns, input: {question: How do I return an item?}, "
                          "reference: {answer: Returns are free within 30 days.}}\n")
        again = watch.wait(lambda e: e["event"] == "eval", "the eval on the edited dataset")
        assert again["cases"] == 7 and again["runs"] == 21 and again["gate"]["ok"] is False
        assert watch.terminate() == 0
    finally:
        watch.close()


# -- langgraph dev ----------------------------------------------------------------------------

@pytest.fixture
def remote(tmp_path: Path, owner: str, agent_server: Any, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """The example project on the real `langgraph dev` (its target judges with ``smoke: before``), applied."""
    root = remote_project(tmp_path / "repo", owner, agent_server.url, monkeypatch)
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0, out + err
    assert "gate: passed: pass rate 1.00 ≥ 0.9; no active version to compare with" in out
    return root


@pytest.mark.server
def test_on_langgraph_dev_a_worse_candidate_is_refused_and_a_worse_version_rolled_back(remote, owner, dev_sdk, capsys):
    faq_id = assistant_id_for(owner, "faq-bot")
    edit(FAQ, *WORSE)
    code, out, err = run(capsys, "apply", ".", "--auto-approve")  # dev-server: smoke: before
    assert code == 3, out + err
    assert "not-promoted: eval gate failed" in err and "judge faq-grader: score" in out
    assert [v["version"] for v in dev_sdk.assistants.get_versions(faq_id)] == [1]
    mine = search_all(dev_sdk, metadata={"controller/owner": owner})
    assert len(mine) == 5 and [a for a in mine if a["metadata"].get("controller/candidate")] == []

    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--smoke", "after")
    assert code == 3, out + err
    assert row(out, "v1 (before)")[3] == "18" and "rolled-back: eval gate failed" in err
    live = dev_sdk.assistants.get(faq_id)
    assert live["context"]["accuracy"] == 1.0  # what was active is active again
    judged = verdicts(capsys, "faq-bot")
    assert judged[1] == ("passed", 1.0) and judged[2][0] == "failed" and judged[2][1] < 0.9

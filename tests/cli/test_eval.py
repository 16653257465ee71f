"""`controller eval` as a user drives it, on the embedded target and on the real `langgraph dev`.

The example project's faq-bot is evaluated: a dataset of six questions, three runs each,
graded by an expect matcher, the faq-grader judge (an assistant) and a python function.
Its "model" is right with probability context.accuracy, so a worse candidate really is
worse. What is on the target is checked with an independent reader (the embedded target
opened again, or langgraph-sdk).
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from helpers import SECRET, edit, on_embedded, record_writes, remote_project, run
from remote_servers import search_all

from controller.core.content import CANDIDATE_KEY, assistant_id_for
from controller.targets.embedded import EmbeddedTarget

FAQ = Path("assistants/faq-bot.yaml")
TEST_GRAPHS = Path(__file__).resolve().parent.parent / "fixtures" / "project" / "graphs"


def owned(repo: Path) -> list[Any]:
    """Every assistant on the project's embedded target (an independent reader)."""
    return on_embedded(repo, lambda t: t.list_assistants({"controller/owner": "demo-agents"}))


def with_test_graphs(root: Path) -> None:
    """The test project's slow, boom and agent graphs beside the example's."""
    graphs = json.loads((root / "langgraph.json").read_text())
    for name in ("slow", "boom", "agent"):
        shutil.copy(TEST_GRAPHS / f"{name}.py", root / "graphs" / f"{name}.py")
        graphs["graphs"][name] = f"./graphs/{name}.py:graph"
    (root / "langgraph.json").write_text(json.dumps(graphs))


def manifest(name: str, graph: str, evals: str, context: str = "{}") -> str:
    return (f"apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {{name: {name}}}\n"
            f"spec:\n  graph: {graph}\n  context: {context}\n  evals:\n{evals}")


AGENT_CASES = [
    {"name": "weather", "input": {"messages": [{"role": "user", "content": "Weather in Paris?"}], "seed": 1},
     "reference": {"trajectory": [{"name": "get_weather", "args": {"city": "Paris"}}]}},
    {"name": "two cities and money", "input": {"messages": [{"role": "user", "content": "Oslo and Lima weather, 10 EUR to USD"}],
                                              "seed": 2},
     "reference": {"trajectory": ["convert", "get_weather", "get_weather"]}},
]
AGENT_EVAL = """\
    - name: picks the right tools
      dataset: ../data/agent.jsonl
      evaluators:
        - trajectory: {match: unordered}
        - python: score.py:answered
      gate: {passRate: 1.0}
"""


def agent_project(root: Path, skill: float) -> None:
    """An agent assistant evaluated on a JSON Lines dataset, by trajectory and by a python function."""
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "agent.jsonl").write_text("".join(json.dumps(c) + "\n" for c in AGENT_CASES))
    (root / "score.py").write_text("def answered(input, output, reference):\n"
                                   "    return bool(output['messages'][-1]['content'])\n")
    (root / "assistants" / "agent.yaml").write_text(manifest("agent", "agent", AGENT_EVAL, f"{{skill: {skill}}}"))


# -- embedded ---------------------------------------------------------------------------------

@pytest.fixture
def applied(project: Path, capsys: pytest.CaptureFixture) -> Path:
    """The example project, applied (smoke tests skipped)."""
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out + err
    return project


def test_the_active_version_is_evaluated_and_its_gate_passes(applied, capsys):
    code, out, err = run(capsys, "eval")
    assert code == 0, out + err
    assert "faq-bot › answers product questions (6 cases × 3 runs)" in out
    row = next(line for line in out.splitlines() if "v1 (active)" in line).split()
    assert row[2:7] == ["18", "18", "0", "1.00", "[0.82,"]
    assert "expect  judge faq-grader  python evals/score.py:concise  p95 latency" in out
    assert "gate: passed: pass rate 1.00 ≥ 0.9; evaluated the active version itself; p95 latency" in out
    assert "candidate" not in out and out.rstrip().endswith("Evals: 1 passed, 0 failed.")


def test_a_worse_candidate_fails_its_gate_and_nothing_is_left_behind(applied, capsys):
    edit(FAQ, "accuracy: 1.0", "accuracy: 0.3")
    code, out, err = run(capsys, "eval", "faq-bot", "--candidate", "--junit", "evals.xml")
    assert code == 3, out + err
    assert "a candidate from the manifests, against the active version v1" in out
    assert next(line for line in out.splitlines() if line.strip().startswith("candidate")).split()[1] == "18"
    assert next(line for line in out.splitlines() if "v1 (active)" in line).split()[3] == "18"  # passed: all
    assert "difference" in out and "gate: FAILED: pass rate" in out and "more than the 0.1 allowed" in out
    assert "failing runs (candidate):" in out and "judge faq-grader: score" in out and "input:  {\"question\":" in out
    assert out.rstrip().endswith("Evals: 0 passed, 1 failed.")
    assert {a.content.metadata.get(CANDIDATE_KEY) for a in owned(applied)} == {None}  # the candidates are gone
    assert len(owned(applied)) == 5
    suite = ET.parse("evals.xml").getroot().find("testsuite")
    assert suite.get("name") == "faq-bot › answers product questions"
    assert [c.get("name") for c in suite.findall("testcase")][-1] == "gate" and suite.get("tests") == "7"


def test_content_equal_to_the_active_version_evaluates_it_and_writes_nothing(applied, capsys, monkeypatch):
    writes = record_writes(monkeypatch, EmbeddedTarget)
    code, out, err = run(capsys, "eval", "--candidate")
    assert code == 0, out + err
    assert "the manifests' content equals the active version v1: evaluated v1" in out
    assert writes == []


def test_json_has_one_eval_event_per_eval(applied, capsys):
    edit(FAQ, "accuracy: 1.0", "accuracy: 0.3")
    code, out, _ = run(capsys, "eval", "--candidate", "-o", "json")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert code == 3 and event["event"] == "eval" and event["assistant"] == "faq-bot"
    assert event["candidate"] is True and event["version"] is None and event["runs"] == 18
    assert event["baseline"]["version"] == 1 and event["baseline"]["pass_rate"] == 1.0
    assert event["gate"]["ok"] is False and len(event["interval"]) == 2 and event["p95_latency_s"] > 0
    assert set(event["scores"]) == {"expect", "judge faq-grader", "python evals/score.py:concise"}


def test_markdown_for_a_pull_request(applied, capsys):
    code, out, _ = run(capsys, "eval", "-o", "markdown")
    assert code == 0
    assert out.splitlines()[0] == "| | assistant | eval | runs | pass rate (95% interval) | baseline | difference | p95 latency |"
    assert "| ✅ | faq-bot | answers product questions (v1) | 18 | 1.00 [0.82, 1.00] | – | – |" in out


def test_names_that_are_unknown_undeployed_or_without_evals_are_errors(project, capsys):
    code, _, err = run(capsys, "eval", "nope")
    assert code == 1 and "no manifest named 'nope'" in err
    code, _, err = run(capsys, "eval", "blog-writer")
    assert code == 1 and "blog-writer: declares no evals (spec.evals)" in err
    code, _, err = run(capsys, "eval", "faq-bot")  # nothing applied yet
    assert code == 1 and "not on " in err and "faq-bot (run controller apply first, or eval --candidate)" in err


def test_a_candidate_of_an_assistant_not_yet_deployed_needs_no_baseline(project, capsys):
    code, out, err = run(capsys, "eval", "--candidate")
    assert code == 0, out + err
    assert "(faq-bot is not on the target yet: no active version to compare with)" in out
    assert "no active version to compare with" in out.split("gate:")[1]
    assert owned(project) == []  # the candidates (the bot's and its judge's) were deleted


def test_a_bad_dataset_stops_everything_before_any_write_or_run(applied, capsys, monkeypatch):
    Path("evals/faq.yaml").write_text("- name: no input\n  reference: {answer: x}\n")
    writes = record_writes(monkeypatch, EmbeddedTarget)
    code, out, err = run(capsys, "eval", "--candidate")
    assert code == 1 and out == ""
    assert "evals/faq.yaml:1: [0].input: required field missing" in err
    assert writes == []
    Path("evals/faq.yaml").unlink()
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "assistants/faq-bot.yaml:16: spec.evals[0].dataset: cannot read the dataset evals/faq.yaml" in err


def test_timeouts_and_errors_are_failed_runs_not_errors(project, capsys):
    with_test_graphs(project)
    (project / "assistants" / "probes.yaml").write_text(
        manifest("slow-probe", "slow", "    - name: waits\n      cases: [{input: {seconds: 5}}, {input: {seconds: 0}}]\n"
                                       "      timeout: 500ms\n      gate: {passRate: 0.5}\n")
        + "---\n" + manifest("boom-probe", "boom", "    - name: raises\n      cases: [{input: {text: boom}}]\n"))
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "eval", "slow-probe", "boom-probe")
    assert code == 3, out + err
    assert "slow-probe › waits" in out and "gate: passed: pass rate 0.50 ≥ 0.5" in out
    assert "timed out after 0.5s" in out
    assert "boom-probe › raises" in out and "run failed: ValueError: boom: requested failure" in out
    errors = [line.split() for line in out.splitlines() if "(active)" in line]
    assert [row[4] for row in errors] == ["1", "1"]  # the errors column: one run each did not finish


def test_trajectory_and_python_evaluators_on_a_tool_calling_agent(project, capsys):
    with_test_graphs(project)
    agent_project(project, skill=1.0)
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "eval", "agent")
    assert code == 0, out + err
    assert "trajectory unordered  python score.py:answered" in out
    edit(Path("assistants/agent.yaml"), "skill: 1.0", "skill: 0.0")  # it stops calling tools
    code, out, _ = run(capsys, "eval", "agent", "--candidate")
    assert code == 3
    assert "trajectory unordered: tool calls (no tool calls); expected (unordered) get_weather(city=\"Paris\")" in out


def test_values_from_the_environment_never_show(project, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)  # blog-writer's model: the writer graph echoes it in its output
    edit(Path("assistants/blog-writer.yaml"), "  smoke:\n",
         "  evals:\n    - name: names its model\n      cases: [{input: {text: hi}}]\n"
         "      evaluators: [{expect: [{path: model, equals: claude}]}]\n  smoke:\n")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "eval", "blog-writer", "--junit", "e.xml")
    assert code == 3 and '"model": "(sensitive)"' in out and 'got "(sensitive)"' in out
    _, json_out, _ = run(capsys, "eval", "blog-writer", "-o", "json")
    for text in (out, err, json_out, Path("e.xml").read_text()):
        assert SECRET not in text


def test_a_terminal_sees_a_progress_line_while_runs_are_in_flight(applied):
    """stderr on a pseudo-terminal, as a person at a shell has it; stdout (the results) stays clean."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    cli = "import sys; from controller.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", cli, "eval", "faq-bot"], stdout=subprocess.PIPE, stderr=secondary,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed: everything was read
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert done.returncode == 0
    assert b"\r\x1b[Keval: 1/18 runs" in seen and b"\r\x1b[Keval: 18/18 runs" in seen
    assert seen.endswith(b"\r\x1b[K")  # cleared before the results
    assert "eval:" not in done.stdout and "Evals: 1 passed, 0 failed." in done.stdout


# -- langgraph dev ----------------------------------------------------------------------------

@pytest.fixture
def remote(tmp_path: Path, owner: str, agent_server: Any, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """The example project on the real `langgraph dev`, owned by this test, applied."""
    root = remote_project(tmp_path / "repo", owner, agent_server.url, monkeypatch)
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    return root


@pytest.mark.server
def test_on_langgraph_dev_the_active_version_passes_and_a_worse_candidate_is_refused(remote, owner, dev_sdk, capsys):
    code, out, err = run(capsys, "eval")
    assert code == 0, out + err
    assert "gate: passed: pass rate 1.00 ≥ 0.9" in out
    edit(FAQ, "accuracy: 1.0", "accuracy: 0.3")
    code, out, err = run(capsys, "eval", "--candidate")
    assert code == 3, out + err
    assert "gate: FAILED" in out and "more than the 0.1 allowed" in out and "judge faq-grader: score" in out
    mine = search_all(dev_sdk, metadata={"controller/owner": owner})
    assert len(mine) == 5 and [a for a in mine if a["metadata"].get("controller/candidate")] == []
    faq_id = assistant_id_for(owner, "faq-bot")
    assert [v["version"] for v in dev_sdk.assistants.get_versions(faq_id)] == [1]  # the real assistant was never written


@pytest.mark.server
def test_on_langgraph_dev_trajectories_timeouts_and_errors(remote, capsys):
    agent_project(remote, skill=1.0)
    (remote / "assistants" / "probes.yaml").write_text(
        manifest("slow-probe", "slow", "    - name: waits\n      cases: [{input: {seconds: 5}}]\n      timeout: 1s\n"))
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "eval", "agent", "slow-probe")
    assert code == 3, out + err
    assert "agent › picks the right tools" in out and "gate: passed: pass rate 1.00 ≥ 1" in out
    assert "slow-probe › waits" in out and "timed out after 1s" in out

"""Plans for people and machines (cli/planview.py): text with unified diffs and colour only when
asked, the JSON shape, markdown for a pull request, and output a person can use."""

from __future__ import annotations

from helpers import BLOG, edit, run
from helpers import writer_content as c

from controller.cli.planview import render_json, render_text
from controller.core.content import Content
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan


def test_multiline_strings_render_as_unified_diffs_and_colour_only_when_asked():
    before = c(config={"configurable": {"p": "one\ntwo\nthree\n"}}, context={"p": "one\ntwo\nthree\n"})
    after = c(config={"configurable": {"p": "one\n2\nthree\n"}}, context={"p": "one\n2\nthree\n"})
    plan = Plan("o", "t", (Change("update", Declaration("w", "id"), seen_version=1, before=before, content=after),))
    text = render_text(plan)
    assert "~ config.configurable.p:" in text and "\n        -two\n        +2" in text
    assert "\x1b[" not in text
    assert "\x1b[33m" in render_text(plan, color=True)
    assert text.endswith("Plan: 0 to create, 1 to update, 0 to repin, 0 to delete.")


def test_no_changes_message_and_json_shape():
    plan = Plan("o", "t", (Change("noop", Declaration("w", "id"), seen_version=3, before=c(), content=c()),),
                owner_source="controller.yaml")
    assert render_text(plan) == "Plan for owner o on t (owner from controller.yaml)\n\nNo changes. The target matches the manifests."
    data = render_json(plan)
    assert (data["owner"], data["owner_source"], data["target"]) == ("o", "controller.yaml", "t")
    assert data["summary"] == {"create": 0, "update": 0, "repin": 0, "delete": 0, "noop": 1}
    assert data["changes"][0] == {"action": "noop", "name": "w", "assistant_id": "id", "source": "", "seen_version": 3,
                                  "to_version": None, "adopt": False, "reason": "", "warnings": [], "diff": []}


def test_the_header_says_how_a_default_owner_was_chosen():
    plan = Plan("repo", "embedded .controller/state.db", (), owner_source="default: name of the project root folder")
    assert render_text(plan).splitlines()[0] == (
        "Plan for owner repo on embedded .controller/state.db (default: name of the project root folder)")


def test_the_text_plan_starts_with_owner_and_target(repo, capsys):
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0
    assert out.splitlines()[0] == "Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)"


def _content(prompt: str) -> Content:
    return Content("writer", "w", None, {"configurable": {"prompt": prompt}}, {}, {})


def test_one_word_changed_in_an_800kb_prompt_prints_little():
    words = [f"word{i}" for i in range(100_000)]
    before = " ".join(words)
    words[50_000] = "CHANGED"
    after = " ".join(words)
    assert len(before) > 700_000
    plan = Plan("o", "t", (Change("update", Declaration("w", "id"), seen_version=1, before=_content(before),
                                  content=_content(after)),))
    text = render_text(plan)
    assert len(text) < 20_000
    assert "[-word50000-]{+CHANGED+}" in text and "word49999" in text and "word50001" in text


def test_a_huge_new_value_is_elided_in_text_but_whole_in_json(repo, capsys):
    huge = "x" * 50_000
    edit(BLOG, "style: blog", f"style: {huge}")
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0 and len(out) < 20_000 and "characters elided; -o json has the full value" in out
    code, out, _ = run(capsys, "plan", ".", "-o", "json")
    assert huge in out


def test_markdown_plan_for_a_pull_request(repo, capsys, monkeypatch):
    secret = "sk-never-in-a-comment"
    monkeypatch.setenv("MODEL", secret)
    code, out, err = run(capsys, "plan", ".", "-o", "markdown")
    assert code == 0, err
    assert out.startswith("### Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)\n")
    assert "| create | 5 |" in out and "**Plan: 5 to create, 0 to update, 0 to repin, 0 to delete.**" in out
    assert out.count("<details>") == 5 and out.count("</details>") == 5
    assert "<summary><code>+ blog-writer: create</code>" in out and "```diff" in out
    assert secret not in out and "(sensitive)" in out


def test_markdown_diffs_are_minus_and_plus_lines_that_github_colours(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(BLOG, "style: blog", "style: plain")
    edit(BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
    code, out, err = run(capsys, "plan", ".", "-o", "markdown")
    assert code == 0, err
    block = out.split("```diff\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == ['- config.configurable.style: "blog"', '+ config.configurable.style: "plain"',
                     "~ config.configurable.system_prompt:", "@@ -1,2 +1,2 @@",
                     " You write friendly, well-structured blog posts.",
                     "-Keep paragraphs short.", "+Keep paragraphs very short."]


def _rules(*changes: tuple[int, str]) -> str:
    rules = [f"Rule {i}: write clearly and kindly for every reader." for i in range(60)]
    for i, text in changes:
        rules[i] = text
    return " ".join(rules)


def test_a_long_prompt_with_two_changes_far_apart_shows_two_small_hunks_of_whole_words(repo, capsys):
    edit(BLOG, "style: blog", f"style: blog\n      rules: \"{_rules()}\"")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    after = _rules((3, "Rule 3: write very clearly and kindly for every reader."),
                   (55, "Rule 55: write clearly and warmly for every reader."))
    edit(BLOG, _rules(), after)
    code, out, err = run(capsys, "plan", ".")
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index(f"    ~ config.configurable.rules: 2 changes ({len(_rules())} → {len(after)} characters)")
    first, second = lines[at + 1].strip(), lines[at + 2].strip()
    assert "Rule 3: write {+very +}clearly" in first and "Rule 55" not in first
    assert "Rule 55: write clearly and [-kindly-]{+warmly+} for" in second and "Rule 3:" not in second
    assert len(first) < 250 and len(second) < 250  # a little context each, not the 2,500 characters between
    words = set(_rules().split()) | set(after.split())
    for hunk in (first, second):  # elided at word boundaries: every word shown is a whole word of the prompt
        text = hunk.strip('"').replace("[-", " ").replace("-]", " ").replace("{+", " ").replace("+}", " ")
        assert all(word in words for word in text.replace("…", " ").split()), hunk
    code, out, _ = run(capsys, "plan", ".", "-o", "markdown")
    assert out.count('\n- "… ') == 2 and out.count('\n+ "… ') == 2  # each hunk as an old and a new line

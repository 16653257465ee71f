"""`controller import` on the embedded target: live assistants → manifests → adopt → no changes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from helpers import example_repo, on_embedded, run

from controller.core.content import Content, canonical


@pytest.fixture
def repo(tmp_path: Path, owner: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example manifests (unique owner); cwd is its root."""
    root = example_repo(tmp_path / "repo", owner)
    monkeypatch.chdir(root)
    for name in ("MODEL", "SIGNATURE", "CONTROLLER_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return root


def create(repo: Path, content: Content) -> str:
    assistant_id = str(uuid.uuid4())
    on_embedded(repo, lambda t: t.create(assistant_id, content))
    return assistant_id


def get(repo: Path, assistant_id: str):
    return on_embedded(repo, lambda t: t.get(assistant_id, versions=True))


def without_controller_keys(content: Content) -> dict:
    shown = canonical(content)
    shown["metadata"] = {k: v for k, v in shown["metadata"].items() if not k.startswith("controller/")}
    return shown


def test_import_then_adopt_round_trips_to_an_empty_plan(repo, owner, capsys, monkeypatch):
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0  # 3 declared, owned assistants
    ids = {
        "marketing": create(repo, Content(
            "writer", "Marketing Copy!", None,
            {"configurable": {"style": "blog", "system_prompt": "Be upbeat.\nKeep ${NAME} as written.\n"}, "tags": ["mkt"]},
            {}, {"team": "marketing", "removed": None})),
        "helpdesk": create(repo, Content("chat", "Helpdesk", "Answers tickets", {}, {"persona": "help", "max_turns": 3}, {})),
        "clash": create(repo, Content("writer", "Blog writer", "Named like a declared one",
                                      {"configurable": {"style": "plain"}}, {}, {})),
        "orphan": create(repo, Content("writer", "Old bot", None, {"configurable": {"style": "tweet"}}, {},
                                       {"controller/owner": owner, "controller/name": "old-bot"})),
    }
    other = create(repo, Content("writer", "Theirs", None, {}, {},
                                 {"controller/owner": "another-team", "controller/name": "theirs"}))
    system = create(repo, Content("writer", "Looks like a default", None, {}, {}, {"created_by": "system"}))
    before = {key: get(repo, aid) for key, aid in ids.items()}
    monkeypatch.setenv("NAME", "from-the-environment")  # must not be interpolated into the imported prompt

    code, out, err = run(capsys, "import", "--out", "imported")
    assert code == 0, err
    files = sorted(p.name for p in (repo / "imported").iterdir())
    assert files == ["blog-writer-2.yaml", "helpdesk.yaml", "marketing-copy.yaml", "old-bot.yaml"], out
    assert out.count("wrote imported/") == 4 and "controller apply --adopt" in out
    assert other not in out and system not in out
    marketing = yaml.safe_load((repo / "imported" / "marketing-copy.yaml").read_text())
    assert marketing["metadata"] == {"name": "marketing-copy", "assistantId": ids["marketing"]}
    assert marketing["spec"]["metadata"] == {"team": "marketing"}  # no nulls, no controller/ keys
    assert marketing["spec"]["displayName"] == "Marketing Copy!" and "description" not in marketing["spec"]
    assert "$${NAME}" in marketing["spec"]["config"]["configurable"]["system_prompt"]
    assert yaml.safe_load((repo / "imported" / "old-bot.yaml").read_text())["metadata"]["name"] == "old-bot"

    code, out, err = run(capsys, "validate")
    assert code == 0 and "9 manifests valid" in out, err

    # Without --adopt, the unowned ones are a conflict and nothing is written.
    code, out, err = run(capsys, "plan")
    assert code == 1 and err.count("use apply --adopt") == 3, err
    code, out, err = run(capsys, "apply", "--auto-approve", "--no-smoke")
    assert code == 1 and "use apply --adopt" in err
    assert all(get(repo, aid).version == before[key].version for key, aid in ids.items())

    code, out, err = run(capsys, "apply", "--adopt", "--auto-approve", "--no-smoke")
    assert code == 0, err
    for key, aid in ids.items():
        after = get(repo, aid)
        made = len(after.versions) - len(before[key].versions)
        assert made == (0 if key == "orphan" else 1), (key, made)  # adoption: one version; ours: none
        assert without_controller_keys(after.content) == without_controller_keys(before[key].content), key
        assert after.content.metadata["controller/owner"] == owner
    assert get(repo, ids["marketing"]).content.config["configurable"]["system_prompt"].endswith("Keep ${NAME} as written.\n")

    code, out, err = run(capsys, "plan", "--detailed-exitcode")
    assert code == 0 and "No changes" in out, out + err
    code, out, err = run(capsys, "import", "--out", "imported")
    assert code == 0 and "No assistants to import" in out, out + err


def test_import_never_overwrites_filters_by_graph_and_refuses_invalid_manifests(repo, owner, capsys, tmp_path):
    create(repo, Content("chat", "Helpdesk", None, {}, {"persona": "help"}, {}))
    create(repo, Content("writer", "Copy", None, {"configurable": {"style": "plain"}}, {}, {}))
    out_dir = tmp_path / "elsewhere"
    out_dir.mkdir()
    (out_dir / "helpdesk.yaml").write_text("keep me\n")

    code, out, err = run(capsys, "import", "--out", str(out_dir))
    assert code == 1
    assert len([line for line in err.splitlines() if "already exists" in line]) == 1, err
    assert (out_dir / "helpdesk.yaml").read_text() == "keep me\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["helpdesk.yaml"]  # nothing written

    code, out, err = run(capsys, "import", "--out", str(out_dir), "--graph", "writer")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["copy.yaml", "helpdesk.yaml"]
    assert f"{out_dir} --adopt" in out  # out of the manifests' tree: the hint names it

    broken = "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {name: Bad}\nspec: {graph: writer}\n"
    (repo / "assistants" / "broken.yaml").write_text(broken)
    code, out, err = run(capsys, "import", "--out", str(tmp_path / "never"))
    assert code == 1 and "broken.yaml" in err
    assert not (tmp_path / "never").exists()


def test_import_with_an_unknown_graph_says_so(repo, capsys, tmp_path):
    code, _, err = run(capsys, "import", "--out", str(tmp_path / "out"), "--graph", "wirter")
    assert code == 1
    assert "--graph: unknown graph 'wirter'; the target has: chat, faq, grader, writer" in err
    assert not (tmp_path / "out").exists()


def test_nothing_to_import_leaves_no_folder_behind(repo, capsys):
    """The tour's last step: every assistant is declared, so there is nothing to write and no
    empty `imported/` to clean up."""
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "import", "--out", "imported")
    assert code == 0 and "No assistants to import" in out, out + err
    assert not (repo / "imported").exists()


def test_import_writes_long_prompts_to_files_beside_the_manifest_and_round_trips(repo, capsys, monkeypatch, tmp_path):
    long = "".join(f"Line {i}: keep ${{NAME}}, $5 and {{braces}} as written.\r\n" for i in range(6))
    short = "Two\nlines\n"
    aid = create(repo, Content("writer", "Long Prompt", None,
                               {"configurable": {"style": "blog", "system_prompt": long, "signature": short}}, {}, {}))
    monkeypatch.setenv("NAME", "from-the-environment")
    (repo / "imported" / "prompts").mkdir(parents=True)
    (repo / "imported" / "prompts" / "long-prompt.system_prompt.md").write_text("mine\n")
    code, out, err = run(capsys, "import", "--out", "imported")
    assert code == 1 and "imported/prompts/long-prompt.system_prompt.md: already exists; not overwritten" in err
    assert not (repo / "imported" / "long-prompt.yaml").exists()  # all or nothing
    (repo / "imported" / "prompts" / "long-prompt.system_prompt.md").unlink()

    code, out, err = run(capsys, "import", "--out", str(tmp_path / "inline"), "--inline")  # today's output (outside the project)
    assert code == 0, err
    inline = yaml.safe_load((tmp_path / "inline" / "long-prompt.yaml").read_text())["spec"]
    assert inline["config"]["configurable"]["system_prompt"] == long.replace("${", "$${")
    assert not (tmp_path / "inline" / "prompts").exists()

    code, out, err = run(capsys, "import", "--out", "imported")
    assert code == 0, err
    assert "wrote imported/long-prompt.yaml" in out and "wrote imported/prompts/long-prompt.system_prompt.md" in out
    spec = yaml.safe_load((repo / "imported" / "long-prompt.yaml").read_text())["spec"]
    assert spec["config"]["configurable"]["system_prompt"] == "${file:prompts/long-prompt.system_prompt.md}"
    assert spec["config"]["configurable"]["signature"] == short  # five lines or fewer stay inline
    written = (repo / "imported" / "prompts" / "long-prompt.system_prompt.md").read_bytes()
    assert written == long.encode()  # verbatim: no escaping, line ends kept

    assert run(capsys, "apply", "--adopt", "--auto-approve", "--no-smoke")[0] == 0
    after = get(repo, aid)
    assert after.content.config["configurable"]["system_prompt"] == long
    assert after.content.metadata["controller/prompts"] == ["imported/prompts/long-prompt.system_prompt.md"]
    code, out, err = run(capsys, "plan", "--detailed-exitcode")
    assert code == 0 and "No changes" in out, out + err

"""`controller status`: all four sync states, on the embedded target and on a server; it writes nothing."""

from __future__ import annotations

import json

import pytest
from helpers import BLOG, TWEET, edit, remote_project, run


def test_status_shows_all_four_states_and_writes_nothing(repo, capsys):
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "--no-color")
    assert code == 2 and out.count("Missing") == 5, out
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["synced"] and doc["counts"]["Synced"] == 5
    head = doc["revision"]
    assert head and {a["revision"] for a in doc["assistants"]} == {head}
    assert {a["version"] for a in doc["assistants"]} == {1}

    edit(repo / BLOG, "style: blog", "style: essay")          # content differs → OutOfSync
    (repo / TWEET).rename(repo / "tweet.yaml.off")             # owned, undeclared → Orphan
    (repo / "assistants" / "extra.yaml").write_text(
        (repo / "tweet.yaml.off").read_text().replace("name: tweet-writer", "name: extra-writer"))  # → Missing
    before = (repo / ".controller" / "state.db").stat().st_mtime_ns
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    states = {a["name"]: a["sync"] for a in json.loads(out)["assistants"]}
    assert code == 2
    assert states == {"blog-writer": "OutOfSync", "support-bot": "Synced", "faq-bot": "Synced", "faq-grader": "Synced",
                      "tweet-writer": "Orphan", "extra-writer": "Missing"}
    assert (repo / ".controller" / "state.db").stat().st_mtime_ns == before
    code, out, _ = run(capsys, "status", "--no-color")
    assert code == 0 and "OutOfSync" in out and "Orphan" in out and head[:12] in out


@pytest.mark.server
def test_status_on_a_remote_server_all_four_states(tmp_path, owner, agent_server, capsys, monkeypatch):
    root = remote_project(tmp_path / "remote", owner, agent_server.url, monkeypatch)
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    assert code == 0 and json.loads(out)["counts"]["Synced"] == 5
    edit(root / BLOG, "Keep paragraphs short.", "Keep them short.")
    (root / TWEET).rename(root / "tweet.yaml.off")
    (root / "assistants" / "extra.yaml").write_text(
        (root / "tweet.yaml.off").read_text().replace("name: tweet-writer", "name: extra-writer"))
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    states = {a["name"]: a["sync"] for a in json.loads(out)["assistants"]}
    assert code == 2
    assert states == {"blog-writer": "OutOfSync", "support-bot": "Synced", "faq-bot": "Synced", "faq-grader": "Synced",
                      "tweet-writer": "Orphan", "extra-writer": "Missing"}

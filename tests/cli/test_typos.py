"""No manifest lost to a typo (issue: "say what is true"): a document that is clearly meant as a
manifest is one with an error, not foreign YAML; and --prune never deletes an assistant whose
file still holds a document with its name."""

from __future__ import annotations

import pytest
from helpers import TWEET, edit, run, state


@pytest.mark.parametrize(("old", "new", "message"), [
    ("apiVersion: assistant-controller/v1", "apiVersion: assistant-controler/v1",
     "apiVersion: unsupported 'assistant-controler/v1': did you mean 'assistant-controller/v1'?"),
    ("apiVersion: assistant-controller/v1", "apiVersion: assistant-controller/v2",
     "apiVersion: unsupported 'assistant-controller/v2': did you mean 'assistant-controller/v1'?"),
    ("apiVersion: assistant-controller/v1\n", "",
     "apiVersion: missing: did you mean 'assistant-controller/v1'?"),
])
def test_a_mistyped_api_version_is_an_error_everywhere_and_prune_deletes_nothing(repo, capsys, old, new, message):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / TWEET, old, new)
    for argv in (("validate", "."), ("plan", "."), ("plan", ".", "--prune"), ("apply", ".", "--prune", "--auto-approve")):
        code, out, err = run(capsys, *argv)
        assert code == 1 and "assistants/tweet-writer.yaml:" in err and message in err, (argv, out + err)
    assert state(repo, "tweet-writer") is not None  # nothing was deleted


def test_other_yaml_that_only_looks_like_ours_is_left_alone(repo, capsys):
    (repo / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    (repo / "chart.yaml").write_text("apiVersion: v2\nkind: Chart\nmetadata: {name: blog-writer}\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "5 manifests valid" in out, out + err


def test_prune_never_deletes_an_assistant_whose_file_still_names_it(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    # someone turned the manifest into something else, keeping the name: not ours any more
    edit(repo / TWEET, "apiVersion: assistant-controller/v1\nkind: Assistant", "apiVersion: acme.io/v1\nkind: Bot")
    assert run(capsys, "plan", ".")[0] == 0  # without --prune: nothing to do for it
    code, out, err = run(capsys, "plan", ".", "--prune")
    assert code == 1 and "assistants/tweet-writer.yaml: metadata.name: 'tweet-writer' would be deleted" in err, out + err
    assert "check its apiVersion and kind" in err
    code, _, err = run(capsys, "apply", ".", "--prune", "--auto-approve")
    assert code == 1 and state(repo, "tweet-writer") is not None
    (repo / TWEET).unlink()  # really gone: pruned
    code, out, err = run(capsys, "apply", ".", "--prune", "--auto-approve")
    assert code == 0 and "- tweet-writer: deleted" in out, out + err

"""``${VAR}`` and ``${file:PATH}`` in string values (config/interpolate.py), and the prompt-file rules
(config/promptfiles.py), below the CLI: what is read, what is sensitive, how a stored template resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.interpolate import UnsetVariable, file_refs, interpolate, referenced, substitute
from controller.config.promptfiles import PromptFileError, PromptFiles


@pytest.fixture
def files(tmp_path: Path) -> PromptFiles:
    (tmp_path / "a" / "p").mkdir(parents=True)
    (tmp_path / "a" / "p" / "en.md").write_text("Hello ${NAME} {x} $$\n")
    (tmp_path / "a" / "p" / "fr.md").write_text("Bonjour\n")
    return PromptFiles(str(tmp_path))


def test_a_file_is_read_verbatim_relative_to_its_base_and_may_be_mixed_with_text(files):
    result = interpolate({"s": "Pre: ${file:p/en.md}", "t": "$${file:p/en.md}"}, {}, {}, files, "a")
    assert result.data == {"s": "Pre: Hello ${NAME} {x} $$\n", "t": "${file:p/en.md}"}
    assert not result.sensitive and [r.path for r in result.reads[("s",)]] == ["a/p/en.md"]


def test_a_path_from_the_environment_is_sensitive_and_its_template_resolves_again_from_the_root(files):
    result = interpolate({"s": "${file:p/${LANG_X:-en}.md}"}, {}, {"LANG_X": "fr"}, files, "a")
    assert result.data == {"s": "Bonjour\n"} and result.sensitive == {("s",)}
    template = result.templates[("s",)]
    assert substitute(template, {}, {"LANG_X": "fr"}, files) == ("Bonjour\n", True)  # the base travels with it
    assert [r.shown for r in result.reads[("s",)]] == ["a/p/${LANG_X:-en}.md"]  # never "fr"
    values = interpolate({"s": "${file:p/${LANG_X}.md}"}, {"LANG_X": "en"}, {}, files, "a")
    assert not values.sensitive and [r.shown for r in values.reads[("s",)]] == ["a/p/en.md"]


def test_what_a_string_depends_on_is_found_without_reading_anything():
    data = {"a": "${file:p/${LOCALE:-en}/x.md} ${MODEL}", "b": ["$${file:no.md}", "$${NOPE}"]}
    assert referenced(data) == {"LOCALE", "MODEL"}
    assert file_refs(data) == {"p/${LOCALE:-en}/x.md"}


@pytest.mark.parametrize("path, message", [
    ("/etc/passwd", "an absolute path"), ("~/x", "an absolute path"), ("../../x", "leaves the project root"),
    ("../..", "leaves the project root"), ("..", "is a folder, not a file"), (" ", "empty path"),
])
def test_paths_that_leave_the_root_are_refused(files, path, message):
    with pytest.raises(PromptFileError, match=message):
        files.read("a", path)


def test_an_unset_variable_in_a_path_is_unset_not_unreadable(files):
    result = interpolate({"s": "${file:${NOPE}.md}"}, {}, {}, files, "a")
    assert isinstance(result.unset[0], UnsetVariable) and result.data == {"s": "${file:${NOPE}.md}"}


def test_a_fingerprint_changes_with_the_bytes_and_says_why_a_file_cannot_be_read(files, tmp_path):
    before = files.fingerprint("a", "p/en.md")
    (tmp_path / "a" / "p" / "en.md").write_text("Changed\n")
    assert PromptFiles(str(tmp_path)).fingerprint("a", "p/en.md") != before
    assert files.fingerprint("a", "p/en.md") == before  # one load reads a file once
    assert files.fingerprint("a", "missing.md") == "error\0no such file"

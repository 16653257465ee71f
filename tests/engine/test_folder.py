"""engine/folder.py: which file events a watch of a project folder acts on."""

from __future__ import annotations

from pathlib import Path

from controller.engine.folder import FolderSource
from controller.engine.source import Project


def test_only_project_files_matter_not_what_python_git_or_the_controller_write(tmp_path: Path) -> None:
    source = FolderSource(Project())
    source.roots = [str(tmp_path)]
    assert source.relevant(None, str(tmp_path / "assistants" / "bot.yaml"))
    assert source.relevant(None, str(tmp_path / "controller.yaml"))
    for written in ("graphs/__pycache__", "graphs/__pycache__/faq.cpython-311.pyc", ".git/index",
                    ".controller/state.db", "assistants/.bot.yaml.swp", "node_modules"):
        assert not source.relevant(None, str(tmp_path / written)), written

"""What the project relies on about servers lives in the repository (docs/servers.md), and every
citation of it names a section or quirk that is there: a reader who follows one finds it."""

from __future__ import annotations

import re
import subprocess

from helpers import ROOT

SERVERS = ROOT / "docs" / "servers.md"


def tracked_texts() -> dict[str, str]:
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for name in names:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg") and path.is_file():
            out[name] = path.read_text(encoding="utf-8", errors="replace")
    return out


def test_nothing_cites_a_file_outside_the_repository():
    old_name = "AGENT_SERVER" + "_API"  # (spelt so that this file does not cite it)
    citing = [name for name, text in tracked_texts().items() if old_name in text]
    assert citing == [], "cite docs/servers.md, which is in the repository"


def test_every_citation_of_docs_servers_names_a_section_or_quirk_that_exists():
    doc = SERVERS.read_text()
    headings = re.findall(r"^#+ (.+)$", doc, re.M)
    quirks = len(re.findall(r"^\d+\. ", doc.split("## Quirks a reconciler must handle", 1)[1].split("\n## ", 1)[0], re.M))
    assert quirks >= 17
    checked = 0
    for name, text in tracked_texts().items():
        for where in re.findall(r"docs/servers\.md[,;]? ([^)\n]*)", text):
            if section := re.match(r'"([^"]+)"', where):
                assert any(h.startswith(section.group(1)) for h in headings), (name, where)
                checked += 1
            if quirk := re.match(r"quirk (\d+)", where):
                assert 1 <= int(quirk.group(1)) <= quirks, (name, where)
                checked += 1
    assert checked >= 5  # the code and the tests name sections and quirks: these were checked

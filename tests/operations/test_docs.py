"""The documents hold together: every relative link in the repository's Markdown resolves (the file, and
the heading of an anchor, by GitHub's slug rule), the README links every document of docs/, and the README
stays the front door (at most 250 lines; the long material is in docs/)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness import PROJECT_DIR

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, check=True).stdout.split()
    return sorted(PROJECT_DIR / f for f in listed if (PROJECT_DIR / f).is_file())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"[`*_]{1,2}(?=\S)|(?<=\S)[`*_]{1,2}", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR)) if path.is_relative_to(PROJECT_DIR) else str(path)


def broken_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # a URL: not checked offline
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no file {_shown(dest)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {_shown(dest)}")
    return broken


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## Two words\n\n[ok](#two-words) [file](b.md) "
                                   "[gone](missing.md) [head](a.md#nowhere) [web](https://example.com)\n")
    (tmp_path / "b.md").write_text("b\n")
    found = broken_links(tmp_path / "a.md")
    assert [f.split(":")[0] for f in found] == ["missing.md", "a.md#nowhere"]


def test_readme_is_the_front_door_and_links_every_document():
    readme = (PROJECT_DIR / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    linked = {Path(t.partition("#")[0]).as_posix() for t in LINK.findall(readme)}
    for doc in sorted((PROJECT_DIR / "docs").glob("*.md")):
        assert f"docs/{doc.name}" in linked, f"README does not link docs/{doc.name}"

"""The guide builds: `mkdocs build --strict` fails on a broken link or anchor, a missing
image, or a page under docs/ left out of `nav` (mkdocs.yml's `validation`); the README's
links into it resolve."""

from __future__ import annotations

import py_compile
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_the_docs_site_builds_with_strict_checks(tmp_path: Path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr  # No module named mkdocs: pip install -e ".[dev]"
    assert (site / "index.html").is_file()
    assert (site / "mlflow-ui-compare.png").is_file()  # the image the UI page shows
    assert not list(site.glob("*.py"))  # the helper scripts beside the pages are not pages


def test_every_page_under_docs_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav))
    assert set(nav) == {p.relative_to(ROOT / "docs").as_posix()
                        for p in (ROOT / "docs").rglob("*.md")}


def test_the_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [t.split("#")[0] for t in targets if "://" not in t]
    assert "docs/index.md" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing


def test_the_helper_scripts_beside_the_pages_compile(tmp_path: Path):
    for script in ("readme_sample.py", "ui_screenshot.py"):
        py_compile.compile(str(ROOT / "docs" / script), cfile=str(tmp_path / f"{script}c"),
                           doraise=True)

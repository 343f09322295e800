"""The web UI's build on first start: rebuilt when missing or older than its sources, never without them."""

from __future__ import annotations

import os
from pathlib import Path

from strix.webbuild import ensure_built, is_built, is_stale


def _tree(root: Path, built: bool) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.ts").write_text("export {};\n")
    if built:
        (root / "dist").mkdir()
        for name in ("index.html", "graphiql.html"):
            (root / "dist" / name).write_text("<!doctype html>")
    return root


def test_a_build_older_than_a_source_is_stale(tmp_path: Path) -> None:
    web = _tree(tmp_path / "web", built=True)
    old = (web / "dist" / "index.html").stat().st_mtime - 10
    os.utime(web / "src" / "main.ts", (old, old))
    assert is_built(web / "dist") and not is_stale(web)
    os.utime(web / "src" / "main.ts", (old + 20, old + 20))
    assert is_stale(web)


def test_shipped_assets_without_sources_are_served_as_they_are(tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "dist").mkdir(parents=True)
    for name in ("index.html", "graphiql.html"):
        (web / "dist" / name).write_text("<!doctype html>")
    assert not is_stale(web)
    assert ensure_built(web)


def test_no_build_and_no_lock_file_is_reported_not_raised(tmp_path: Path) -> None:
    web = _tree(tmp_path / "web", built=False)
    assert not ensure_built(web)

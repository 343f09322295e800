"""The web UI's built assets: built from `web/` on first start when missing (a development checkout with
Node.js), else left to the CI or image build. Node never runs in a deployment: images ship `web/dist`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from strix_runtime.logs import get_logger

log = get_logger("web")


SOURCES = ("src", "index.html", "graphiql.html", "package-lock.json", "vite.config.ts", "vite.graphiql.config.ts")


def is_built(dist: Path) -> bool:
    return (dist / "index.html").is_file() and (dist / "graphiql.html").is_file()


def is_stale(web_dir: Path) -> bool:
    """Whether a source of the UI changed after the build (a checkout; an image has no sources, never stale)."""
    built = web_dir / "dist" / "index.html"
    if not built.is_file():
        return True
    newest = 0.0
    for name in SOURCES:
        path = web_dir / name
        files = path.rglob("*") if path.is_dir() else [path] if path.exists() else []
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest > built.stat().st_mtime


def ensure_built(web_dir: Path) -> bool:
    """Build `web_dir/dist` when it is missing or older than its sources, where `web_dir` holds the sources and npm
    is installed; whether the assets are there afterwards. A failed build is logged, never fatal: the API works
    without the UI."""
    dist = web_dir / "dist"
    if is_built(dist) and not is_stale(web_dir):
        return True
    npm = shutil.which("npm")
    if npm is None or not (web_dir / "package-lock.json").is_file():
        if is_built(dist):
            return True  # shipped without sources (an image), or no Node here: serve what there is
        log.warning("web.not_built", dist=str(dist), hint="run `npm ci && npm run build` in web/ (Node.js 20)")
        return False
    log.info("web.building", web_dir=str(web_dir))
    steps = [["run", "build"]]
    installed = web_dir / "node_modules" / ".package-lock.json"  # npm's record of what it installed
    if not installed.is_file() or installed.stat().st_mtime < (web_dir / "package-lock.json").stat().st_mtime:
        steps.insert(0, ["ci", "--no-audit", "--no-fund"])
    for step in steps:
        done = subprocess.run([npm, *step], cwd=web_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.error("web.build_failed", step=" ".join(step), output=(done.stdout + done.stderr)[-2000:])
            return False
    log.info("web.built", dist=str(dist))
    return is_built(dist)

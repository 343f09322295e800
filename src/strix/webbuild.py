"""The web UI's built assets: built from `web/` on first start when missing (a development checkout with
Node.js), else left to the CI or image build. Node never runs in a deployment: images ship `web/dist`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from strix_runtime.logs import get_logger

log = get_logger("web")


def is_built(dist: Path) -> bool:
    return (dist / "index.html").is_file() and (dist / "graphiql.html").is_file()


def ensure_built(web_dir: Path) -> bool:
    """Build `web_dir/dist` when it is missing and `web_dir` holds the sources and npm is installed; whether the
    assets are there afterwards. A failed build is logged, never fatal: the API works without the UI."""
    dist = web_dir / "dist"
    if is_built(dist):
        return True
    npm = shutil.which("npm")
    if npm is None or not (web_dir / "package-lock.json").is_file():
        log.warning("web.not_built", dist=str(dist), hint="run `npm ci && npm run build` in web/ (Node.js 20)")
        return False
    log.info("web.building", web_dir=str(web_dir))
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        done = subprocess.run([npm, *step], cwd=web_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.error("web.build_failed", step=" ".join(step), output=(done.stdout + done.stderr)[-2000:])
            return False
    log.info("web.built", dist=str(dist))
    return is_built(dist)

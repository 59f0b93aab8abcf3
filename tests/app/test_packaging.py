"""The wheel the deployment installs carries migrations, templates and static files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "app"


def test_wheel_contains_package_data(tmp_path):
    # Build from a copy: setuptools leaves build/ and *.egg-info next to the sources.
    source = tmp_path / "app"
    shutil.copytree(APP_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("extagram-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "extagram/migrations/0001_create_posts_and_photos.sql",
        "extagram/static/style.css",
        "extagram/static/preview.svg",
        "extagram/static/extagram.js",
        "extagram/templates/index.html",
        "extagram/templates/error.html",
    ]:
        assert required in names
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "extagram = extagram.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

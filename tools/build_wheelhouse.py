#!/usr/bin/env python3
"""Build the app's wheelhouse on the controller; print what changed as JSON.

Usage: build_wheelhouse.py SOURCE_DIR WHEELHOUSE_DIR

`pip wheel` runs on a clean copy of SOURCE_DIR (so the app's tree gets no build/ or
*.egg-info), with SOURCE_DATE_EPOCH fixed. A freshly built wheel replaces the one in
WHEELHOUSE_DIR only when its contents differ (names, sizes and CRCs of its members), so
rebuilding unchanged code leaves the wheelhouse - and the copies on the nodes - untouched,
which keeps the deployment idempotent. Wheels no longer needed are removed.
Output: {"changed": bool, "wheels": {name: sha256}}.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

IGNORE = shutil.ignore_patterns(
    ".venv*", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".git"
)


def members(path):
    with zipfile.ZipFile(path) as wheel:
        return sorted((info.filename, info.file_size, info.CRC) for info in wheel.infolist())


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(source, wheelhouse):
    changed = False
    os.makedirs(wheelhouse, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="extagram-wheels-") as tmp:
        tree = os.path.join(tmp, "src")
        built = os.path.join(tmp, "wheels")
        shutil.copytree(source, tree, ignore=IGNORE)
        env = dict(os.environ, SOURCE_DATE_EPOCH="315532800", PIP_DISABLE_PIP_VERSION_CHECK="1")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--prefer-binary", "--wheel-dir", built, tree],
            check=True,
            env=env,
            stdout=sys.stderr,
        )
        fresh = sorted(name for name in os.listdir(built) if name.endswith(".whl"))
        for name in fresh:
            target = os.path.join(wheelhouse, name)
            if os.path.exists(target) and members(target) == members(os.path.join(built, name)):
                continue
            shutil.copyfile(os.path.join(built, name), target + ".part")
            os.replace(target + ".part", target)
            changed = True
    for name in os.listdir(wheelhouse):
        if name.endswith(".whl") and name not in fresh:
            os.unlink(os.path.join(wheelhouse, name))
            changed = True
    wheels = {name: sha256(os.path.join(wheelhouse, name)) for name in fresh}
    print(json.dumps({"changed": changed, "wheels": wheels}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))

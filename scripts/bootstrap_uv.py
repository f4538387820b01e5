"""Put a pinned `uv` at .tools/bin/uv using nothing but the Python standard library.

A fresh Debian machine may have python3 without venv or pip (they are separate Debian packages), so this does not
rely on either: it takes uv from PATH when the version matches, else installs it with pip into .tools when pip and
venv work, else downloads the pinned wheel from PyPI, checks its sha256 against PyPI's, and unpacks the binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".tools" / "bin" / "uv"


def _version_ok(binary: str | Path) -> bool:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20, check=False)
    except OSError:
        return False
    return out.returncode == 0 and UV_VERSION in out.stdout


def _via_pip() -> bool:
    tools = ROOT / ".tools"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
            check=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        shutil.rmtree(tools, ignore_errors=True)
        return False
    return _version_ok(TARGET)


def _wheel_tag() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[machine]
    return f"manylinux_2_17_{arch}"


def _via_pypi() -> bool:
    # The simple index (PEP 691 JSON) is what every PyPI mirror serves; its entries carry the sha256.
    request = urllib.request.Request(
        "https://pypi.org/simple/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        index = json.load(response)
    tag = _wheel_tag()
    wheel = next(
        f
        for f in index["files"]
        if f["filename"].startswith(f"uv-{UV_VERSION}-") and f["filename"].endswith(".whl") and tag in f["filename"]
    )
    wheel["digests"] = wheel["hashes"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / wheel["filename"]
        urllib.request.urlretrieve(wheel["url"], path)  # noqa: S310
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != wheel["digests"]["sha256"]:
            raise SystemExit("The uv wheel downloaded from PyPI does not match PyPI's checksum; not installing it.")
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.endswith("/scripts/uv") or n.endswith("/bin/uv"))
            TARGET.parent.mkdir(parents=True, exist_ok=True)
            TARGET.write_bytes(archive.read(member))
    TARGET.chmod(TARGET.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return _version_ok(TARGET)


def main() -> int:
    if _version_ok(TARGET):
        return 0
    on_path = shutil.which("uv")
    if on_path and _version_ok(on_path):
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        if TARGET.exists() or TARGET.is_symlink():
            TARGET.unlink()
        os.symlink(on_path, TARGET)
        return 0
    if _via_pip() or _via_pypi():
        return 0
    print("Could not install uv: need network access to PyPI.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

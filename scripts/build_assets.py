"""Build the production static files: hashed names, the manifest, gzip and brotli copies (WhiteNoise's storage).

One script for every place that needs them: the Dockerfile, `make assets`, the systemd install steps in
docs/operations.md, and the test that starts the portal with production settings (tests/core/test_production.py).

Production's storage (CompressedManifestStaticFilesStorage) is chosen by DJANGO_ENV=production, whose settings
refuse to load without the school's secrets. Collecting files reads none of them, so this script sets clearly fake
placeholders for whichever are missing, in its own child process only: nothing is written anywhere but the files.

    python scripts/build_assets.py [--static-root DIR]     (default: STATIC_ROOT, or var/staticfiles)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_ONLY = "build-only-placeholder-not-a-secret"
PLACEHOLDERS = {
    "SECRET_KEY": BUILD_ONLY + "-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "build.invalid",
    "CANVAS_BASE_URL": "https://canvas.build.invalid",
    "CANVAS_TOKEN": BUILD_ONLY,
    "CANVAS_OAUTH_CLIENT_SECRET": BUILD_ONLY,
    # A well-formed Fernet key (32 bytes, urlsafe base64) that encrypts nothing: collectstatic never touches tokens.
    "FIELD_ENCRYPTION_KEYS": "YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk=",
    "AUDIT_HMAC_KEYS": "build:YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk=",
    "AUDIT_SIGNING_KEY": "YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk=",
    "EMAIL_URL": "smtp://mail.build.invalid:25",
    "CELERY_BROKER_URL": "redis://broker.build.invalid:6379/0",
}
REQUIRED_ENTRIES = ("css/portal.css", "js/portal.js")


def build(static_root: Path) -> dict[str, str]:
    env = {**PLACEHOLDERS, **{k: v for k, v in os.environ.items() if v}}
    env.update({"DJANGO_ENV": "production", "DEBUG": "false", "STATIC_ROOT": str(static_root)})
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    manifest_path = static_root / "staticfiles.json"
    paths: dict[str, str] = json.loads(manifest_path.read_text())["paths"]
    missing = [name for name in REQUIRED_ENTRIES if name not in paths]
    if missing:
        raise SystemExit(f"The manifest has no entry for {missing}: the pages would fail to render.")
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = os.environ.get("STATIC_ROOT") or str(ROOT / "var" / "staticfiles")
    parser.add_argument("--static-root", default=default_root)
    args = parser.parse_args()
    static_root = Path(args.static_root).resolve()
    paths = build(static_root)
    compressed = sum(1 for _ in static_root.rglob("*.gz"))
    print(f"Built {len(paths)} static files into {static_root} (manifest staticfiles.json, {compressed} gzip copies).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

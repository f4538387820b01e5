"""The banner `make run` prints: sign-ins, and where demo mail goes (never a pairing code itself)."""

from __future__ import annotations

import io

from mentorship.portal.management.commands.run_portal import Command


def _banner() -> str:
    out = io.StringIO()
    Command(stdout=out)._banner()
    return out.getvalue()


def test_banner_names_the_mail_folder_with_the_file_backend(settings, tmp_path) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    text = _banner()
    assert "http://127.0.0.1:8000/" in text and "coordinator2" in text
    assert f"written to {tmp_path / 'mail'}/" in text


def test_banner_without_a_mail_folder_still_prints(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_FILE_PATH = None  # what settings.py sets for a real mail server
    text = _banner()
    assert "Press Ctrl-C" in text
    assert "written to" not in text

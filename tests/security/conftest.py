import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The security tests sign many people in; a fast hasher keeps them quick (real hashing is Django's concern)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

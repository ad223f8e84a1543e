"""A logged-in user's session for the Django tests (import as ``tests.django.sessions``)."""

from __future__ import annotations


def logged_in_session_key(username: str) -> str:
    """Create ``username`` and a signed-cookie session logged in as them; the session key.

    The value of the ``sessionid`` cookie (``settings.SESSION_ENGINE`` is the
    signed-cookie backend in tests/django/conftest.py).
    """
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    user = User.objects.create_user(username, password="secret")
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key or ""

"""The ``ENGINEIO`` setting, the system checks, the registry and the public API."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from tests.django.eio_testapp import engineio_handlers

import django_engineio
from django_engineio import get_async_server, get_server, get_sync_server, on
from django_engineio.checks import check_settings
from django_engineio.conf import engineio_settings
from django_engineio.registry import registry
from engineio_core import AsyncServer, ConfigError, Server

REPO = Path(__file__).resolve().parents[2]


def check_ids(**engineio: Any) -> list[str]:
    with override_settings(ENGINEIO=engineio):
        return [message.id or "" for message in check_settings()]


def sid_generator(request: Any) -> str:
    """A hook for the dotted-path tests."""
    return "fixed-sid"


def test_public_api() -> None:
    assert sorted(django_engineio.__all__) == [
        "ConnectionRefused", "DisconnectReason", "ServerNotConfigured", "SessionUnknown",
        "abroadcast", "acount_sessions", "adisconnect", "asend", "broadcast", "count_sessions",
        "disconnect", "get_async_server", "get_server", "get_sync_server", "on", "send",
    ]
    for name in django_engineio.__all__:
        assert getattr(django_engineio, name) is not None


def test_handlers_module_of_each_app_is_autodiscovered() -> None:
    assert registry.handlers["connect"] is engineio_handlers.connect
    assert registry.handlers["message"] is engineio_handlers.message
    assert registry.handlers["disconnect"] is engineio_handlers.disconnect


def test_valid_settings_pass_the_checks() -> None:
    assert check_ids(PING_INTERVAL=10, TRANSPORTS=["polling"], CORS_ALLOWED_ORIGINS="*",
                     CORS_CREDENTIALS=False, PATH="/rt/", ASYNC_MODE="threading",
                     SID_GENERATOR="test_django_settings_and_checks.sid_generator") == []
    assert check_ids(CLUSTER="redis://127.0.0.1:6379/0") == []
    with override_settings(ENGINEIO={"PING_INTERVAL": 0}):
        assert "django_engineio.E003" in [m.id for m in run_checks()]  # registered


@pytest.mark.parametrize(("engineio", "expected"), [
    ({"PING_INTERVL": 1}, ["django_engineio.E002"]),
    ({"PING_INTERVAL": -1}, ["django_engineio.E003"]),
    ({"PING_TIMEOUT": "20"}, ["django_engineio.E003"]),
    ({"CLOSING_GRACE": 0}, ["django_engineio.E003"]),
    ({"MAX_HTTP_BUFFER_SIZE": 0, "HTTP_COMPRESSION": "yes"},
     ["django_engineio.E003", "django_engineio.E003"]),
    ({"TRANSPORTS": ["polling", "smoke-signals"]}, ["django_engineio.E004"]),
    ({"TRANSPORTS": []}, ["django_engineio.E004"]),
    ({"TRANSPORTS": "websocket"}, ["django_engineio.E004"]),
    ({"PATH": "/"}, ["django_engineio.E005"]),
    ({"ASYNC_MODE": "twisted"}, ["django_engineio.E006"]),
    ({"ALLOW_REQUEST": "no.such.module.hook"}, ["django_engineio.E008"]),
    ({"CLUSTER": "localhost:6379"}, ["django_engineio.E009"]),
    ({"CLUSTER": {"url": "redis://localhost"}}, ["django_engineio.E009"]),
    ({"CORS_ALLOWED_ORIGINS": "*"}, ["django_engineio.W001"]),
])
def test_each_problem_has_its_id(engineio: dict[str, Any], expected: list[str]) -> None:
    assert check_ids(**engineio) == expected


def test_engineio_allowed_hosts_points_to_djangos_setting() -> None:
    with override_settings(ENGINEIO={"ALLOWED_HOSTS": ["example.com"]}):
        [message] = check_settings()
        assert message.id == "django_engineio.E002"
        assert message.hint == ("Engine.IO requests follow settings.ALLOWED_HOSTS; "
                                "set the hosts there.")
        with pytest.raises(ConfigError, match="ALLOWED_HOSTS"):
            get_async_server()


def test_setting_that_is_not_a_dict() -> None:
    with override_settings(ENGINEIO=[("PING_INTERVAL", 1)]):
        assert [m.id for m in check_settings()] == ["django_engineio.E001"]
        with pytest.raises(ConfigError, match="must be a dict"):
            get_async_server()


def _run_in_a_child(script: str) -> list[str]:
    """Run ``script`` in a fresh Python process from the repository root; its output lines."""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_channels_missing_for_an_asgi_deployment() -> None:
    """E007, in a child process where ``channels`` cannot be imported."""
    script = (
        "import sys; sys.modules['channels'] = None  # an import of it now fails\n"
        "sys.path.insert(0, 'tests/django'); import conftest\n"
        "from django.test import override_settings\n"
        "from django_engineio.checks import check_settings\n"
        "with override_settings(ASGI_APPLICATION='x.asgi.application'):\n"
        "    print([m.id for m in check_settings()])\n"
        "with override_settings(ENGINEIO={'ASYNC_MODE': 'threading'}):\n"
        "    print([m.id for m in check_settings()])\n"
    )
    assert _run_in_a_child(script) == ["['django_engineio.E007']", "[]"]


def test_settings_are_read_lazily_and_reset_on_change() -> None:
    assert engineio_settings.path == "engine.io"
    generator = "test_django_settings_and_checks.sid_generator"
    with override_settings(ENGINEIO={"PATH": "/realtime/", "LOGGER": "eio.test",
                                     "SID_GENERATOR": generator}):
        assert engineio_settings.path == "realtime"
        options = engineio_settings.server_options()
        assert options["logger"] is logging.getLogger("eio.test")
        assert options["sid_generator"] is sid_generator
    assert engineio_settings.path == "engine.io"


def test_async_handlers_is_a_setting() -> None:
    assert check_ids(ASYNC_HANDLERS=False) == []
    with override_settings(ENGINEIO={"ASYNC_MODE": "threading"}):
        assert get_sync_server().async_handlers is True  # the sync server's default
    with override_settings(ENGINEIO={"ASYNC_MODE": "threading", "ASYNC_HANDLERS": False}):
        assert get_sync_server().async_handlers is False


def test_closing_grace_is_a_setting() -> None:
    assert check_ids(CLOSING_GRACE=2.5) == []
    with override_settings(ENGINEIO={"ASYNC_MODE": "threading", "CLOSING_GRACE": 2.5}):
        assert get_sync_server().config.closing_grace_ms == 2500
    with override_settings(ENGINEIO={"ASYNC_MODE": "threading", "CLOSING_GRACE": "30"}), \
            pytest.raises(ConfigError, match="closing_grace must be a positive number"):
        get_sync_server()


def test_unknown_key_fails_when_the_server_is_built() -> None:
    with override_settings(ENGINEIO={"PING_INTERVL": 1}), pytest.raises(ConfigError,
                                                                          match="PING_INTERVL"):
        get_sync_server()


def test_get_server_follows_the_deployment_or_async_mode() -> None:
    with override_settings(ENGINEIO={"ASYNC_MODE": "asyncio"}):
        assert isinstance(get_server(), AsyncServer)
        with pytest.raises(ImproperlyConfigured, match="needs a Server"):
            get_sync_server()
    with override_settings(ENGINEIO={"ASYNC_MODE": "threading"}):
        server = get_server()
        assert isinstance(server, Server)
        assert server.async_mode == "threading"
        assert get_sync_server() is server
        with pytest.raises(ImproperlyConfigured, match="needs an AsyncServer"):
            get_async_server()


def test_no_server_yet_is_a_clear_error() -> None:
    """In a fresh process, before any deployment asked for a server."""
    script = (
        "import sys; sys.path.insert(0, 'tests/django'); import conftest\n"
        "from django_engineio import get_server\n"
        "try:\n"
        "    get_server()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "from django_engineio import get_async_server, get_sync_server\n"
        "get_async_server(); get_sync_server()\n"
        "try:\n"
        "    get_server()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    assert _run_in_a_child(script) == ["ServerNotConfigured", "ServerNotConfigured"]


def test_on_registers_on_live_servers_and_keeps_signatures() -> None:
    server = get_sync_server()
    saved = dict(registry.handlers)
    try:
        @on("upgrade")
        async def upgrade(sid: str) -> None:
            pass

        assert registry.handlers["upgrade"] is upgrade
        installed = server.handlers["upgrade"]
        assert installed is not upgrade  # adapted: async_to_sync under WSGI
        assert installed.__wrapped__ is upgrade  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="unknown event"):
            on("connected")
    finally:
        registry.handlers.clear()
        registry.handlers.update(saved)

"""Options are validated up front, backends are found by name, and the public API is stable."""

from __future__ import annotations

import pytest

import engineio_core
from engineio_core import AsyncServer, ConfigError, CookieOptions, Server, ServerConfig
from engineio_core.backends import BackendUnavailable, load_backend


def test_seconds_become_exact_milliseconds() -> None:
    config = ServerConfig.from_options(ping_interval=0.3, ping_timeout=0.2, upgrade_timeout=1.5)
    assert (config.ping_interval_ms, config.ping_timeout_ms, config.upgrade_timeout_ms) == (
        300, 200, 1500)
    assert ServerConfig.from_options(ping_interval=25).ping_interval_ms == 25000


@pytest.mark.parametrize(("seconds", "ms"), [(30, 30000), (0.25, 250), (2.5, 2500), (1e-3, 1)])
def test_closing_grace_is_an_option_in_seconds(seconds: float, ms: int) -> None:
    assert ServerConfig().closing_grace_ms == 30000
    assert ServerConfig.from_options(closing_grace=seconds).closing_grace_ms == ms


@pytest.mark.parametrize("value", [0, -1, "30", True, None, 1e-4])
def test_closing_grace_refuses_what_the_other_times_refuse(value: object) -> None:
    with pytest.raises(ConfigError, match="closing_grace") as refused:
        ServerConfig.from_options(closing_grace=value)
    with pytest.raises(ConfigError) as reference:
        ServerConfig.from_options(ping_interval=value)
    assert str(refused.value) == str(reference.value).replace("ping_interval", "closing_grace")


def test_closing_grace_ms_is_not_an_option_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown option.*closing_grace_ms"):
        ServerConfig.from_options(closing_grace_ms=30000)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ping_intervall": 1}, "unknown option"),
        ({"ping_interval": 0}, "ping_interval"),
        ({"ping_interval": "25"}, "ping_interval"),
        ({"ping_timeout": True}, "ping_timeout"),
        ({"max_http_buffer_size": -1}, "max_http_buffer_size"),
        ({"transports": ["carrier-pigeon"]}, "transports"),
        ({"transports": []}, "transports"),
        ({"protocol_versions": [5]}, "protocol_versions"),
        ({"allow_upgrades": "yes"}, "allow_upgrades"),
        ({"cors_allowed_origins": [1]}, "cors_allowed_origins"),
        ({"cookie": {"flavour": "chocolate"}}, "cookie attribute"),
        ({"cookie": 3}, "cookie"),
        ({"sid_generator": "abc"}, "sid_generator"),
        ({"compression_threshold": -5}, "compression_threshold"),
        ({"cookie": {"samesite": "sometimes"}}, "same_site must be one of Strict, Lax, None"),
    ],
)
def test_bad_options_raise(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig.from_options(**options)


def test_cookie_forms() -> None:
    assert ServerConfig.from_options(cookie="sid").cookie == CookieOptions(name="sid")
    cookie = ServerConfig.from_options(cookie={"name": "x", "SameSite": "Strict",
                                               "httponly": False}).cookie
    assert cookie == CookieOptions(name="x", same_site="Strict", http_only=False)
    assert ServerConfig.from_options(cookie=None).cookie is None
    lax = ServerConfig.from_options(cookie={"samesite": "lax"}).cookie
    assert lax is not None
    assert lax.same_site == "Lax"  # the attribute's canonical spelling


def test_upgrades_advertised_only_when_possible() -> None:
    assert ServerConfig.from_options().upgrades == ["websocket"]
    assert ServerConfig.from_options(allow_upgrades=False).upgrades == []
    assert ServerConfig.from_options(transports=["polling"]).upgrades == []


def test_backends_by_name_and_kind() -> None:
    assert load_backend("threading", "sync").name == "threading"
    assert load_backend("asyncio", "async").name == "asyncio"
    assert load_backend(None, "async").name == "asyncio"
    with pytest.raises(BackendUnavailable, match="use it with Server"):
        load_backend("threading", "async")
    with pytest.raises(BackendUnavailable, match="needs 'uwsgi and gevent' installed"):
        load_backend("gevent_uwsgi", "sync")  # uwsgi imports only inside uWSGI
    with pytest.raises(BackendUnavailable, match="unknown async_mode 'nope'"):
        load_backend("nope", "sync")
    assert AsyncServer().async_mode == "asyncio"
    assert Server(async_mode="threading").async_mode == "threading"


def test_auto_sync_backend_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="engineio_core")
    assert load_backend(None, "sync").name == "threading"
    assert "picked the 'threading' backend" in caplog.text


def test_public_api() -> None:
    assert sorted(engineio_core.__all__) == sorted([
        "ASGIApp", "AsyncServer", "AsyncWebSocket", "BackendUnavailable", "BodyTooLarge",
        "ConfigError", "ConnectionRefused", "CookieOptions", "DisconnectReason", "EngineIOError",
        "MAX_QUEUED_EVENTS", "MessageTooLarge", "ParseError", "ProtocolError", "Refusal", "Request",
        "Response", "Server", "ServerConfig", "ServerNotFound", "SessionInfo", "SessionUnknown",
        "State", "SyncWebSocket", "WSGIApp",
    ])
    for name in engineio_core.__all__:
        assert getattr(engineio_core, name) is not None
    assert str(engineio_core.DisconnectReason.PING_TIMEOUT) == "ping timeout"

"""Every package speaks with one voice about configuration mistakes (issue 17, item 3):
unknown names suggest the closest valid one, spelled as the user wrote it; wrong
types and modes say what is accepted; ``get_server`` lookups raise ``ServerNotFound``
everywhere; a sync server given to an asyncio framework fails at setup."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from aiohttp import web
from sanic import Sanic

import aiohttp_engineio
import engineio_core
import flask_engineio
import sanic_engineio
import tornado_engineio
from engineio_core import AsyncServer, BackendUnavailable, ConfigError, Server, ServerNotFound


@pytest.mark.parametrize("make", [AsyncServer, lambda **kw: Server(async_mode="threading", **kw)])
def test_an_unknown_option_suggests_the_closest(make: Any) -> None:
    with pytest.raises(ConfigError, match=r"^unknown option\(s\): ping_intervl \(did you mean "
                                          r"ping_interval\?\)$"):
        make(ping_intervl=1)
    with pytest.raises(ConfigError, match=r"^unknown option\(s\): zzz$"):
        make(zzz=1)


def test_flask_names_the_config_key_it_read() -> None:
    app = flask.Flask(__name__)
    app.config["ENGINEIO_CORS_ALLOWED_ORIGIN"] = "*"
    with pytest.raises(ConfigError, match=r"ENGINEIO_CORS_ALLOWED_ORIGIN \(did you mean "
                                          r"ENGINEIO_CORS_ALLOWED_ORIGINS\?\)"):
        flask_engineio.FlaskEngineIO(app)


def test_sanic_names_the_config_key_it_read() -> None:
    app = Sanic("voice")
    app.config.ENGINEIO_MAX_HTTP_BUFER_SIZE = 10
    with pytest.raises(ConfigError, match=r"ENGINEIO_MAX_HTTP_BUFER_SIZE \(did you mean "
                                          r"ENGINEIO_MAX_HTTP_BUFFER_SIZE\?\)"):
        sanic_engineio.SanicEngineIO(app)


@pytest.mark.parametrize("value", [True, 3, b"*"])
def test_cors_allowed_origins_of_a_wrong_type_says_what_is_accepted(value: object) -> None:
    with pytest.raises(ConfigError, match=r"cors_allowed_origins must be None \(same origin "
                                          r"only\), \"\*\", an origin, a list of origins or a "
                                          r"callable\(origin\) -> bool, got "):
        AsyncServer(cors_allowed_origins=value)


def test_an_unknown_async_mode_lists_the_modes() -> None:
    with pytest.raises(BackendUnavailable, match=r"unknown async_mode 'bogus' \(async_mode is one "
                                                 r"of .*asyncio.*threading.*, or None"):
        Server(async_mode="bogus")


def test_get_server_raises_server_not_found_everywhere() -> None:
    with pytest.raises(ServerNotFound, match=r"call aiohttp_engineio.setup\(app\) first"):
        aiohttp_engineio.get_server(web.Application())
    with pytest.raises(ServerNotFound, match="not initialised on the Flask app"):
        flask_engineio.get_server(flask.Flask(__name__))
    with pytest.raises(ServerNotFound, match=r"call SanicEngineIO\(app\) or init_app\(app\)"):
        sanic_engineio.get_server(Sanic("lookup"))
    # code written against the first releases still catches it
    assert issubclass(ServerNotFound, LookupError)
    assert issubclass(ServerNotFound, RuntimeError)
    assert issubclass(ServerNotFound, engineio_core.EngineIOError)


def test_a_sync_server_given_to_an_asyncio_framework_fails_at_setup() -> None:
    server = Server(async_mode="threading")
    message = r"needs an engineio_core.AsyncServer, got a Server \(the blocking one\)"
    with pytest.raises(TypeError, match=r"aiohttp_engineio.setup\(\) " + message):
        aiohttp_engineio.setup(web.Application(), server)
    with pytest.raises(TypeError, match=r"tornado_engineio.engineio_routes\(\) " + message):
        tornado_engineio.engineio_routes(server)
    with pytest.raises(TypeError, match="SanicEngineIO " + message):
        sanic_engineio.SanicEngineIO(Sanic("sync"), server=server)


def test_async_mode_given_to_a_framework_that_fixes_it_says_so() -> None:
    with pytest.raises(ConfigError, match=r"always serves with async_mode='aiohttp'"):
        aiohttp_engineio.setup(web.Application(), async_mode="asyncio")
    with pytest.raises(ConfigError, match=r"always uses async_mode='sanic'"):
        sanic_engineio.SanicEngineIO(async_mode="asyncio")


def test_the_runtimes_refuse_a_server_of_the_other_kind() -> None:
    with pytest.raises(TypeError, match=r"ASGIApp needs an engineio_core.AsyncServer, got a "
                                        r"Server \(the blocking one\)"):
        engineio_core.ASGIApp(Server(async_mode="threading"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"WSGIApp needs an engineio_core.Server, got an "
                                        r"AsyncServer \(the asyncio one\)"):
        engineio_core.WSGIApp(AsyncServer())  # type: ignore[arg-type]

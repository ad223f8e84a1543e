"""``run_app``: serve a Flask app with the WSGI server that suits its ``async_mode``.

The helper behind :meth:`flask_engineio.FlaskEngineIO.run`, for development and
simple deployments: Werkzeug's threaded server for ``threading`` (WebSocket
included, on the socket Werkzeug exposes), ``eventlet.wsgi`` for ``eventlet``
and ``gevent.pywsgi`` for ``gevent``. Production deployments use gunicorn or
uWSGI (docs/deployment.md, docs/flask.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["run_app"]


def run_app(app: Flask, async_mode: str, host: str, port: int, **kwargs: Any) -> None:
    """Serve ``app`` on ``host:port`` until interrupted.

    Args:
        app: the Flask app (its ``wsgi_app`` already serves Engine.IO).
        async_mode: the ``async_mode`` of the app's Engine.IO server.
        host: the interface to listen on.
        port: the TCP port.
        **kwargs: passed to the server (``app.run`` for threading:
            ``debug``, ``use_reloader``...; ``eventlet.wsgi.server`` for eventlet;
            ``gevent.pywsgi.WSGIServer`` for gevent).

    Raises:
        RuntimeError: ``async_mode`` has no built-in server here.
    """
    if async_mode == "threading":
        kwargs.setdefault("threaded", True)
        if not kwargs["threaded"]:
            raise RuntimeError("Engine.IO needs threaded=True under Werkzeug: long-polling "
                               "holds a request while the client sends another")
        app.run(host=host, port=port, **kwargs)
    elif async_mode == "eventlet":
        import eventlet
        import eventlet.wsgi

        eventlet.wsgi.server(eventlet.listen((host, port)), app, **kwargs)
    elif async_mode == "gevent":
        from gevent.pywsgi import WSGIServer

        WSGIServer((host, port), app, **kwargs).serve_forever()
    else:
        raise RuntimeError(
            f"async_mode {async_mode!r} has no built-in server in FlaskEngineIO.run(); "
            "start the app with its own server (e.g. uwsgi --gevent ..., see docs/flask.md)")

"""``django_engineio.W002``: no Engine.IO route in the ASGI or WSGI application.

Each test writes a small project package into a temporary directory on ``sys.path``
and points ``ASGI_APPLICATION`` / ``WSGI_APPLICATION`` at it. The check reads those
modules; it must never import them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_engineio.checks import check_routes

REPO = Path(__file__).resolve().parents[2]

PLAIN_ASGI = """
    import os
    from django.core.asgi import get_asgi_application
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
    application = get_asgi_application()
"""
ROUTED_ASGI = """
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.asgi import get_asgi_application
    django_asgi_app = get_asgi_application()
    from django_engineio.routing import http_urlpatterns, websocket_urlpatterns
    application = ProtocolTypeRouter({{
        "http": URLRouter(http_urlpatterns),
        "websocket": URLRouter(websocket_urlpatterns),
    }})
"""
PLAIN_WSGI = """
    from django.core.wsgi import get_wsgi_application
    application = get_wsgi_application()
"""
ROUTED_WSGI = """
    from django_engineio.wsgi import get_wsgi_application
    application = get_wsgi_application()
"""

Project = Callable[..., str]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            request: pytest.FixtureRequest) -> Project:
    """``project(asgi=..., wsgi=..., other=...)`` writes a package of those modules
    (``{package}`` in a source is the package's name) and returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    count = iter(range(100))

    def make(**modules: str) -> str:
        package = f"w002_{request.node.name.replace('[', '_').strip(']')}_{next(count)}"
        root = tmp_path / package
        root.mkdir()
        (root / "__init__.py").write_text("")
        for name, source in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source.format(package=package)))
        return package

    return make


def w002(asgi: str | None = None, wsgi: str | None = None) -> list[str]:
    """The W002 messages (message, then hint) with these settings."""
    with override_settings(ASGI_APPLICATION=asgi, WSGI_APPLICATION=wsgi):
        found = check_routes()
    assert all(m.id == "django_engineio.W002" for m in found)
    return [f"{m.msg}\n{m.hint}" for m in found]


def test_no_route_in_either_application(project: Project) -> None:
    package = project(asgi=PLAIN_ASGI, wsgi=PLAIN_WSGI)
    [text] = w002(f"{package}.asgi.application", f"{package}.wsgi.application")
    message, hint = text.split("\n")
    assert message == (
        f"Engine.IO is routed in neither ASGI_APPLICATION '{package}.asgi.application' nor "
        f"WSGI_APPLICATION '{package}.wsgi.application': requests to /engine.io/ reach "
        "Django, which answers 404.")
    assert hint.startswith(
        "ASGI: route django_engineio.routing's http_urlpatterns and websocket_urlpatterns in "
        f"the ProtocolTypeRouter of {sys.path[0]}/{package}/asgi.py; WSGI: application = "
        "django_engineio.wsgi.get_wsgi_application() in "
        f"{sys.path[0]}/{package}/wsgi.py (docs/django.md).")
    assert "SILENCED_SYSTEM_CHECKS" in hint
    docs = (REPO / "docs" / "django.md").read_text()  # quoted there for a package "project"
    assert f"?: (django_engineio.W002) {message.replace(package, 'project')}\n" in docs
    assert f"{package}.asgi" not in sys.modules  # read, not imported
    assert f"{package}.wsgi" not in sys.modules


def test_registered_and_following_the_path_setting(project: Project) -> None:
    package = project(wsgi=PLAIN_WSGI)
    with override_settings(WSGI_APPLICATION=f"{package}.wsgi.application",
                           ENGINEIO={"PATH": "/rt/"}):
        [found] = [m for m in run_checks() if m.id == "django_engineio.W002"]
    assert found.msg == (f"Engine.IO is not routed in WSGI_APPLICATION "
                         f"'{package}.wsgi.application': requests to /rt/ reach Django, "
                         "which answers 404.")


def test_routed_in_the_asgi_application(project: Project) -> None:
    package = project(asgi=ROUTED_ASGI, wsgi=PLAIN_WSGI)
    assert w002(f"{package}.asgi.application", f"{package}.wsgi.application") == []


def test_routed_in_a_project_module_the_asgi_module_imports(project: Project) -> None:
    # asgi.py -> .routing (relative) -> urls_engineio -> django_engineio.routing
    package = project(
        asgi="""
            from django.core.asgi import get_asgi_application
            django_asgi_app = get_asgi_application()
            from .routing import application
        """,
        routing="""
            from channels.routing import ProtocolTypeRouter, URLRouter
            from {package} import urls_engineio
            application = ProtocolTypeRouter({{"http": URLRouter(urls_engineio.http)}})
        """,
        urls_engineio="""
            from django_engineio import routing
            http = routing.http_urlpatterns
        """,
        wsgi=PLAIN_WSGI,
    )
    assert w002(f"{package}.asgi.application", f"{package}.wsgi.application") == []
    assert f"{package}.routing" not in sys.modules


def test_routed_in_the_wsgi_application(project: Project) -> None:
    package = project(wsgi=ROUTED_WSGI)
    assert w002(wsgi=f"{package}.wsgi.application") == []


def test_an_asgi_module_beside_the_wsgi_one_counts(project: Project) -> None:
    """``daphne project.asgi:application`` needs no ASGI_APPLICATION setting."""
    package = project(asgi=ROUTED_ASGI, wsgi=PLAIN_WSGI)
    assert w002(wsgi=f"{package}.wsgi.application") == []
    package = project(asgi=PLAIN_ASGI, wsgi=PLAIN_WSGI)
    [text] = w002(wsgi=f"{package}.wsgi.application")
    assert text.startswith(f"Engine.IO is routed in neither {package}.asgi (beside "
                           f"WSGI_APPLICATION) nor WSGI_APPLICATION '{package}.wsgi.application'")


def test_routes_in_an_installed_distribution_are_not_followed(project: Project) -> None:
    """Only the project's own modules are read: an import of Django is not."""
    package = project(wsgi="""
        from django.core.handlers.wsgi import WSGIHandler
        application = WSGIHandler()
    """)
    assert len(w002(wsgi=f"{package}.wsgi.application")) == 1


def test_silent_when_it_cannot_tell(project: Project) -> None:
    assert w002() == []  # no application named (the test settings)
    package = project(wsgi=PLAIN_WSGI, broken="def (")
    assert w002("missing_w002.asgi.application", f"{package}.wsgi.application") == []
    assert w002(f"{package}.broken.application", f"{package}.wsgi.application") == []


def test_the_example_project_passes_every_check() -> None:
    done = subprocess.run(
        [sys.executable, "examples/django/manage.py", "check", "--fail-level", "WARNING"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout

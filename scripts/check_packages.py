"""Build every package as users get it, check it, install it alone and serve one request.

For each of the six packages: ``poetry build`` (sdist and wheel) into a temporary
``dist/``; the metadata must name no direct reference (``@ file://...``: an index
refuses such a wheel), and carry the package's version, license and readme;
then a fresh virtualenv installs the wheel from ``dist/`` plus the registry
(``pip install --find-links dist/ <package>``, so ``engineio-core`` comes from
``dist/`` as it would from an index), starts a small server with it on a free
port and makes one polling handshake. Run by ``scripts/test.sh``::

    python3 scripts/check_packages.py [package ...]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["engineio-core", "aiohttp-engineio", "tornado-engineio", "sanic-engineio",
            "flask-engineio", "django-engineio"]

#: per package: what to install (extras included) and a server on $PORT
SMOKE: dict[str, tuple[str, str]] = {
    "engineio-core": ("engineio-core", """
from wsgiref.simple_server import make_server, WSGIRequestHandler
import engineio_core
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
app = engineio_core.WSGIApp(engineio_core.Server(async_mode="threading"))
make_server("127.0.0.1", PORT, app, handler_class=Quiet).serve_forever()
"""),
    "aiohttp-engineio": ("aiohttp-engineio", """
from aiohttp import web
import aiohttp_engineio
app = web.Application()
aiohttp_engineio.setup(app)
web.run_app(app, host="127.0.0.1", port=PORT, print=None)
"""),
    "tornado-engineio": ("tornado-engineio", """
import asyncio, tornado.web, engineio_core, tornado_engineio
async def main():
    app = tornado.web.Application(tornado_engineio.engineio_routes(engineio_core.AsyncServer()))
    app.listen(PORT, "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""),
    "sanic-engineio": ("sanic-engineio", """
from sanic import Sanic
from sanic_engineio import SanicEngineIO
app = Sanic("smoke")
SanicEngineIO(app)
app.run(host="127.0.0.1", port=PORT, single_process=True, access_log=False)
"""),
    "flask-engineio": ("flask-engineio", """
from flask import Flask
from flask_engineio import FlaskEngineIO
app = Flask(__name__)
FlaskEngineIO(app)
app.run(host="127.0.0.1", port=PORT)
"""),
    "django-engineio": ("django-engineio[channels]", """
from django.conf import settings
urlpatterns = []
settings.configure(INSTALLED_APPS=["django_engineio"], ALLOWED_HOSTS=["127.0.0.1"],
                   ROOT_URLCONF=__name__)
from wsgiref.simple_server import make_server, WSGIRequestHandler
from django_engineio.wsgi import get_wsgi_application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
make_server("127.0.0.1", PORT, get_wsgi_application(), handler_class=Quiet).serve_forever()
"""),
}


def build(dist: Path) -> None:
    poetry = [found] if (found := shutil.which("poetry")) else [sys.executable, "-m", "poetry"]
    for name in PACKAGES:
        subprocess.run([*poetry, "build", "--quiet", "--project",
                        str(REPO / "packages" / name), "--output", str(dist)], check=True)


def check_metadata(dist: Path, name: str) -> list[str]:
    """Problems with the sdist's and the wheel's metadata (none: an empty list)."""
    module = name.replace("-", "_")
    version = _version(REPO / "packages" / name / "src" / module / "__init__.py")
    wheels = sorted(dist.glob(f"{module}-*.whl"))
    sdists = sorted(dist.glob(f"{module}-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{name}: expected one wheel and one sdist, found {wheels + sdists}"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        [path] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        texts = {"wheel": wheel.read(path).decode()}
    with tarfile.open(sdists[0]) as sdist:
        member = next(m for m in sdist.getmembers() if m.name.endswith("/PKG-INFO"))
        file = sdist.extractfile(member)
        assert file is not None
        texts["sdist"] = file.read().decode()
    problems = []
    for kind, text in texts.items():
        meta = HeaderParser().parsestr(text)
        direct = [r for r in meta.get_all("Requires-Dist") or [] if " @ " in r]
        if direct:
            problems.append(f"{name} {kind}: direct references {direct}")
        if meta["Version"] != version:
            problems.append(f"{name} {kind}: version {meta['Version']}, __version__ {version}")
        if not meta["License"] and not meta["License-Expression"]:
            problems.append(f"{name} {kind}: no license")
        if meta["Description-Content-Type"] != "text/markdown" or len(meta.get_payload()) < 200:
            problems.append(f"{name} {kind}: no readme as its description")
    return problems


def _version(init: Path) -> str:
    for line in init.read_text().splitlines():
        if line.startswith("__version__ = "):
            return str(json.loads(line.split("=", 1)[1].strip().replace("'", '"')))
    raise SystemExit(f"no __version__ in {init}")


def smoke(dist: Path, name: str, work: Path) -> str | None:
    """Install ``name`` alone in a fresh venv and serve one handshake; a problem or None."""
    requirement, server = SMOKE[name]
    env_dir = work / name
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--find-links", str(dist), requirement],
        capture_output=True, text=True, check=False)
    if install.returncode:
        return f"{name}: pip install failed:\n{install.stderr[-2000:]}"
    port = _free_port()
    script = env_dir / "smoke.py"
    script.write_text(f"PORT = {port}\n" + server)
    log = env_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(python), str(script)], cwd=env_dir, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                return f"{name}: the server exited:\n{log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    body = answer.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return f"{name}: no answer on port {port}:\n{log.read_text()[-2000:]}"
                time.sleep(0.1)
        if not body.startswith(b"0{") or "sid" not in json.loads(body[1:]):
            return f"{name}: the handshake answered {body[:200]!r}"
        return None
    finally:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    names = sys.argv[1:] or PACKAGES
    unknown = set(names) - set(PACKAGES)
    if unknown:
        raise SystemExit(f"unknown packages {sorted(unknown)}; known: {PACKAGES}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="engineio-packages-") as tmp:
        dist = Path(tmp) / "dist"
        build(dist)
        problems = [p for name in names for p in check_metadata(dist, name)]
        # PIP_FIND_LINKS of the environment would add a second source of wheels
        os.environ.pop("PIP_FIND_LINKS", None)
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = pool.map(lambda name: smoke(dist, name, Path(tmp)), names)
            problems += [r for r in results if r]
    for problem in problems:
        print(f"check_packages: {problem}", file=sys.stderr)
    status = "FAILED" if problems else "ok"
    print(f"check_packages: {len(names)} packages built, checked, installed alone and "
          f"served one handshake: {status} ({time.monotonic() - started:.0f} s)")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

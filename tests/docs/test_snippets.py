"""Every code block of README.md and docs/*.md runs, or is checked as far as it can be.

* Every block names its language; ``text`` blocks (output, trees) are not code.
* Python: every block compiles (fragments too); every block not marked
  ``<!-- fragment -->`` runs in a process of its own (tests/docs/snippet_runner.py),
  its server answering one Engine.IO handshake, its ``# raises`` line checked.
* bash: ``bash -n``, and what the commands name exists (``python -m`` modules,
  gunicorn ``-k`` worker classes, ``pip install`` extras of our packages).
* nginx and HAProxy: the configuration is checked by ``nginx -t`` / ``haproxy -c``
  when they are installed (scripts/setup.sh installs them).
* docs/configuration.md's generated tables match the code.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.docs.snippets import ROOT, Block, all_blocks, blocks_of
from tests.interop.harness import redis_server, system_binary

BLOCKS = all_blocks()
LANGUAGES = {"python", "bash", "nginx", "haproxy", "text"}
PYTHON = [b for b in BLOCKS if b.lang == "python"]
RUN = [b for b in PYTHON if not b.fragment]
BASH = [b for b in BLOCKS if b.lang == "bash"]
PROXY = [b for b in BLOCKS if b.lang in ("nginx", "haproxy")]
RUN_TIMEOUT = 60


def ids(blocks: list[Block]) -> list[str]:
    return [b.id for b in blocks]


def compile_block(block: Block) -> None:
    """Compile a Python block (top-level ``await`` allowed); raises ``SyntaxError``."""
    compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def run_block(file: str, line: int, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.docs.snippet_runner", file, str(line)],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


# --------------------------------------------------------------------------- all blocks
def test_blocks_are_found() -> None:
    assert len(PYTHON) >= 20
    assert len(RUN) >= 15
    assert len(BASH) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=ids(BLOCKS))
def test_block_names_its_language(block: Block) -> None:
    assert block.lang in LANGUAGES, (
        f"{block.id}: give the block one of the languages {sorted(LANGUAGES)} "
        "(``text`` for output and trees)")


def test_only_python_blocks_are_fragments() -> None:
    marked = [b.id for b in BLOCKS if b.fragment and b.lang != "python"]
    assert not marked, f"only Python blocks are run, so only they can be fragments: {marked}"


# --------------------------------------------------------------------------- Python
@pytest.mark.parametrize("block", PYTHON, ids=ids(PYTHON))
def test_python_block_compiles(block: Block) -> None:
    compile_block(block)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server for the cluster mode's blocks."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.mark.parametrize("block", RUN, ids=ids(RUN))
def test_python_block_runs(block: Block, request: pytest.FixtureRequest) -> None:
    env = {}
    if "redis://" in block.code:  # only these blocks start the redis-server
        env["SNIPPET_REDIS_URL"] = request.getfixturevalue("redis_url")
    done = run_block(block.file, block.line, env)
    assert done.returncode == 0, f"{block.id} failed:\n{done.stdout}\n{done.stderr}"
    serves = not block.code.startswith("# test_") and block.raises is None
    if re.search(r"^app\s*=", block.code, re.MULTILINE) and serves:
        assert "handshake: " in done.stdout, f"{block.id}: its app served no handshake"
    if block.raises:
        assert f"raised: {block.raises}" in done.stdout


def test_a_broken_block_fails(tmp_path: Path) -> None:
    """The checks can fail: a syntax error, an exception, a wrong ``# raises`` line."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint('unclosed'\n```\n\n"
        "```python\nraise RuntimeError('boom')\n```\n\n"
        "```python\nimport engineio_core\nengineio_core.AsyncServer()\n"
        "# raises ConfigError: no such thing\n```\n\n"
        "<!-- fragment: for the test -->\n```python\nundefined_name\n```\n")
    syntax, exception, not_raised, fragment = blocks_of(page)
    with pytest.raises(SyntaxError):
        compile_block(syntax)
    assert fragment.fragment
    assert not syntax.fragment
    assert not_raised.raises == "ConfigError: no such thing"
    for block in (exception, not_raised):
        done = run_block(str(page), block.line)
        assert done.returncode != 0, done.stdout


# --------------------------------------------------------------------------- bash
@pytest.mark.parametrize("block", BASH, ids=ids(BASH))
def test_bash_block(block: Block) -> None:
    done = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True)
    assert done.returncode == 0, f"{block.id}: {done.stderr}"
    for command in commands(block.code):
        check_command(block, command)


def commands(code: str) -> Iterator[list[str]]:
    """Each command line of a block, split as the shell would (comments dropped)."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        env = 0
        while env < len(words) and re.match(r"^[A-Z_]+=", words[env]):
            env += 1
        if words[env:]:
            yield words[env:]


def check_command(block: Block, words: list[str]) -> None:
    """What a command names exists: modules, worker classes, extras of our packages."""
    program, args = words[0], words[1:]
    if program in ("python", "python3") and args[:1] == ["-m"]:
        assert importlib.util.find_spec(args[1]) is not None, f"{block.id}: no module {args[1]}"
    if program == "gunicorn" and "-k" in args:
        worker = args[args.index("-k") + 1]
        if "." in worker:  # imported in a process of its own (eventlet warns, patches)
            module, _, name = worker.rpartition(".")
            done = subprocess.run([sys.executable, "-W", "ignore", "-c",
                                   f"import {module}; {module}.{name}"],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{block.id}: {worker}: {done.stderr}"
    if program == "pip" and args[:1] == ["install"]:
        for requirement in args[1:]:
            m = re.match(r"^([\w-]+)(?:\[([\w,-]+)\])?$", requirement)
            assert m, requirement
            name, extras = m.group(1), m.group(2)
            project = ROOT / "packages" / name / "pyproject.toml"
            if project.exists() and extras:
                declared = package_extras(project)
                missing = set(extras.split(",")) - declared
                assert not missing, f"{block.id}: {name} has no extra {sorted(missing)}"
    for path in (a for a in args if a.startswith(("tests/", "benchmarks/", "scripts/"))):
        assert (ROOT / path).exists(), f"{block.id}: {path} does not exist"


def package_extras(project: Path) -> set[str]:
    data = tomllib.loads(project.read_text("utf-8"))
    extras = set(data.get("project", {}).get("optional-dependencies", {}))
    extras |= set(data.get("tool", {}).get("poetry", {}).get("extras", {}))
    return extras


# --------------------------------------------------------------------------- proxies
HAPROXY_DEFAULTS = """defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
"""


@pytest.mark.parametrize("block", PROXY, ids=ids(PROXY))
def test_proxy_configuration(block: Block, tmp_path: Path) -> None:
    if block.lang == "nginx":
        binary = system_binary("nginx")
        conf = tmp_path / "nginx.conf"
        conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
                        f"http {{\naccess_log off;\n{block.code}\n}}\n")
        command = [binary, "-t", "-q", "-p", str(tmp_path), "-c", str(conf)]
    else:
        binary = system_binary("haproxy")
        conf = tmp_path / "haproxy.cfg"
        # A backend shown alone takes the defaults of the page's first block.
        defaults = "" if "defaults" in block.code else HAPROXY_DEFAULTS
        conf.write_text(f"{defaults}{block.code}\nfrontend docs\n"
                        f"    bind unix@{tmp_path}/haproxy.sock\n    default_backend engineio\n")
        command = [binary, "-c", "-f", str(conf)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{block.id}: {done.stdout}{done.stderr}"
    assert "WARNING" not in done.stdout + done.stderr, f"{block.id}: {done.stdout}{done.stderr}"


# --------------------------------------------------------------------------- generated
def test_configuration_reference_is_current() -> None:
    """docs/configuration.md shows the options the code has (the site regenerates them)."""
    done = subprocess.run([sys.executable, "scripts/mkdocs_hooks.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

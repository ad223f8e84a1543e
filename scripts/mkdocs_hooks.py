"""The docs site's build hooks (``hooks:`` in mkdocs.yml) and its griffe extension.

* The README is the home page (``index.md``): its links are rewritten for the site
  (``docs/flask.md`` -> ``flask.md``), and so are the links of ``docs/*.md`` that
  leave ``docs/`` (``../README.md`` -> the home page). A link to another file of the
  repository (``packages/engineio-core``, ``benchmarks/README.md``) becomes a link
  into the repository when mkdocs.yml has a ``repo_url``, else its plain text; a
  link to a file that does not exist is left alone, so the strict build fails on it.
* ``<!-- api: engineio_core -->`` in a page becomes the API reference of every name
  in that package's ``__all__``; a public name without a docstring fails the build.
* docs/configuration.md's tables are generated from the code (``ServerConfig``, the
  servers' signatures, each package's setting keys) between two markers; the build
  uses the fresh tables, and ``python scripts/mkdocs_hooks.py --check`` (a test in
  tests/docs) fails when the committed copy differs (``--write`` updates it).
* :class:`SphinxRoles`, a griffe extension: the docstrings' Sphinx roles
  (``:class:`~engineio_core.Server```) become code that links to the object's
  reference when it is on the site.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import os
import re
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import griffe

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CONFIGURATION = DOCS / "configuration.md"

PACKAGES = {
    "engineio_core": "engineio-core",
    "aiohttp_engineio": "aiohttp-engineio",
    "tornado_engineio": "tornado-engineio",
    "sanic_engineio": "sanic-engineio",
    "flask_engineio": "flask-engineio",
    "django_engineio": "django-engineio",
}
"""Import name -> directory under packages/ of every package of the monorepo."""

SEARCH_PATHS = [str(ROOT / "packages" / name / "src") for name in PACKAGES.values()]

log = logging.getLogger("mkdocs.plugins.engineio_docs")


# --------------------------------------------------------------------------- the README
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the README as the home page (``index.md``)."""
    from mkdocs.structure.files import File

    if files.get_file_from_path("index.md") is None:
        files.append(File.generated(config, "index.md", content=README.read_text("utf-8")))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Rewrite the page's links for the site and expand the generated parts."""
    src = page.file.src_uri
    base = ROOT if src == "index.md" else (DOCS / src).parent
    markdown = rewrite_links(markdown, base, (DOCS / src).parent, config.repo_url, src)
    markdown = API_MARKER.sub(lambda m: api_reference(m.group(1), src), markdown)
    if src == "configuration.md":
        markdown = replace_generated(markdown, configuration_tables())
    return markdown


LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def rewrite_links(markdown: str, base: Path, page_dir: Path, repo_url: str | None,
                  src: str) -> str:
    """Links of a page whose source is in ``base``, as the site at ``page_dir`` needs them.

    Outside fenced code blocks only; absolute URLs and anchors are left alone.
    """
    out = []
    fenced = False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        if not fenced:
            line = LINK.sub(lambda m: _rewrite(m, base, page_dir, repo_url, src), line)
        out.append(line)
    return "\n".join(out)


def _rewrite(m: re.Match[str], base: Path, page_dir: Path, repo_url: str | None,
             src: str) -> str:
    target = m.group("target")
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return m.group(0)
    path, sep, anchor = target.partition("#")
    resolved = Path(os.path.normpath(base / path))
    if resolved == README:
        new = os.path.relpath(DOCS / "index.md", page_dir)
    elif resolved.is_relative_to(DOCS):
        new = os.path.relpath(resolved, page_dir)
    elif resolved.is_relative_to(ROOT) and resolved.exists():
        relative = resolved.relative_to(ROOT).as_posix()
        if not repo_url:  # nowhere to link to: keep the words
            return m.group("text")
        kind = "tree" if resolved.is_dir() else "blob"
        return f"{m.group('bang')}[{m.group('text')}]({repo_url.rstrip('/')}/{kind}/main/" \
               f"{relative}{sep}{anchor})"
    else:
        return m.group(0)  # not found: MkDocs warns, the strict build fails
    new = PurePosixPath(Path(new).as_posix()).as_posix()
    return f"{m.group('bang')}[{m.group('text')}]({new}{sep}{anchor})"


# --------------------------------------------------------------------------- API reference
API_MARKER = re.compile(r"^<!-- api: ([a-z_.]+) -->$", re.MULTILINE)


def load_package(name: str) -> griffe.Module:
    """The package's API as griffe reads it from the source (nothing is imported)."""
    module = griffe.load(name, search_paths=SEARCH_PATHS, resolve_aliases=False)
    assert isinstance(module, griffe.Module)
    return module


def api_reference(target: str, src: str) -> str:
    """Markdown for mkdocstrings: the module's docstring, then each name of its ``__all__``.

    ``target`` is a package (its docstring under the page's title) or one of its
    modules (under a heading of its own). A name re-exported from another package of
    ours links to its reference there.
    """
    package, _, rest = target.partition(".")
    if package not in PACKAGES:
        log.warning("%s: <!-- api: %s --> is not in a package of the monorepo", src, target)
        return ""
    module = load_package(package)
    if rest:
        module = module[rest]
    exports = [str(name) for name in module.exports or ()]
    if not exports:
        log.warning("%s: %s has no __all__", src, target)
    own: list[str] = []
    reexported: list[tuple[str, str]] = []
    for name in exports:
        member = module.members.get(name)
        if member is None:
            log.warning("%s: %s.__all__ names %r, which the module does not define",
                        src, target, name)
            continue
        if isinstance(member, griffe.Alias) and member.target_path.split(".")[0] != package:
            reexported.append((name, member.target_path))
            continue
        own.append(name)
        if not (member.final_target if isinstance(member, griffe.Alias) else member).docstring:
            log.warning("%s: %s.%s is public (in __all__) but has no docstring",
                        src, target, name)
    level = 3 if rest else 2
    heading = "true" if rest else "false"
    parts = [f"::: {target}\n    options:\n      members: false\n"
             f"      show_root_heading: {heading}"]
    parts += [f"::: {target}.{name}\n    options:\n      heading_level: {level}"
              for name in own]
    if reexported:
        lines = [f"- `{target}.{name}` is [`{path}`][{path}]" for name, path in reexported]
        parts.append("#" * level + " Re-exported\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- configuration
BEGIN = "<!-- BEGIN GENERATED: python scripts/mkdocs_hooks.py --write -->"
END = "<!-- END GENERATED -->"


def replace_generated(markdown: str, tables: str) -> str:
    """``markdown`` with what stands between :data:`BEGIN` and :data:`END` replaced."""
    start, end = markdown.find(BEGIN), markdown.find(END)
    if start < 0 or end < start:
        raise ValueError(f"docs/configuration.md must contain {BEGIN!r} ... {END!r}")
    return markdown[:start + len(BEGIN)] + "\n" + tables + markdown[end:]


SECONDS = ("ping_interval", "ping_timeout", "upgrade_timeout", "closing_grace")


@dataclasses.dataclass
class Option:
    """One row of the options table."""

    name: str
    default: str
    type: str
    doc: str


def _one_line(text: str) -> str:
    """A docstring as one table cell (its roles as code: the file is read on GitHub too)."""
    return convert_roles(" ".join(text.split()), links=False).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`".replace("|", "\\|")


def _literal(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"`{value:_}`"
    return f"`{value!r}`"


def server_options() -> list[Option]:
    """Every option of :class:`engineio_core.ServerConfig`, as the servers take it."""
    from engineio_core import ServerConfig

    config = griffe.load("engineio_core.protocol.config", search_paths=SEARCH_PATHS,
                         resolve_aliases=False)
    documented = config["ServerConfig"].members
    base = ServerConfig()
    options = []
    for field in dataclasses.fields(ServerConfig):
        member = documented[field.name]
        doc = member.docstring.value if member.docstring else ""
        value = getattr(base, field.name)
        name, annotation = field.name, str(member.annotation)
        if name.endswith("_ms") and name.removesuffix("_ms") in SECONDS:
            name, value = name.removesuffix("_ms"), value / 1000
            annotation = "float"
            doc = doc.replace(", in ms", ", in seconds").replace(" in ms", " in seconds")
        if field.name == "sid_generator":
            value = None
        options.append(Option(name, _literal(value), _code(annotation), _one_line(doc)))
    names = {o.name for o in options}
    if names != ServerConfig.option_names():
        raise RuntimeError(f"ServerConfig options {sorted(names ^ ServerConfig.option_names())} "
                           "are not what ServerConfig.option_names() says")
    return options


def server_arguments() -> list[Option]:
    """The arguments of ``AsyncServer`` / ``Server`` that are not ServerConfig options:
    defaults from their signatures, descriptions from their docstrings."""
    from engineio_core.async_server import AsyncServer
    from engineio_core.base_server import BaseServer
    from engineio_core.server import Server

    rows: dict[str, Option] = {}
    for cls in (AsyncServer, Server):
        node = griffe.load(cls.__module__, search_paths=SEARCH_PATHS,
                           resolve_aliases=False)[cls.__name__]
        documented: dict[str, str] = {}
        if node.docstring:
            for section in node.docstring.parse("google", warnings=False):
                if section.kind in (griffe.DocstringSectionKind.parameters,
                                    griffe.DocstringSectionKind.other_parameters):
                    documented.update((p.name, p.description) for p in section.value)
        params = dict(inspect.signature(BaseServer.__init__).parameters)
        params.update(inspect.signature(cls.__init__).parameters)
        for param in params.values():
            if param.name == "self" or param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            default = _literal(param.default)
            doc = _one_line(documented.get(param.name, ""))
            row = rows.setdefault(param.name, Option(param.name, default,
                                                     _code(str(param.annotation)), doc))
            if default not in row.default:  # AsyncServer's, then Server's
                row.default = f"`AsyncServer`: {row.default}; `Server`: {default}"
            if doc and doc not in row.doc:
                row.doc = f"{row.doc} (`Server`: {doc})" if row.doc else doc
    return list(rows.values())


def package_keys() -> list[tuple[str, str, str, str, str, str]]:
    """For each option: how aiohttp, Tornado, Sanic, Flask and Django users spell it.

    Read from each package's own lists, so a key they add or drop shows here.
    """
    import sanic_engineio.integration as sanic_integration
    from engineio_core import ServerConfig
    from flask_engineio import CONFIG_PREFIX as FLASK_PREFIX
    from flask_engineio import config_defaults
    from sanic_engineio import CONFIG_PREFIX as SANIC_PREFIX

    django = _django_keys()
    # async_mode is on Sanic's list only to be refused with its own message
    sanic = (ServerConfig.option_names() | sanic_integration._PACKAGE_OPTIONS) - {"async_mode"}
    flask = set(config_defaults())
    core = ServerConfig.option_names() | {"logger", "async_handlers", "cluster", "async_mode"}
    names = sorted(core | sanic | flask | {k.lower() for k in django})
    rows = []
    for name in names:
        upper = name.upper()
        in_core = name in core
        aiohttp = f"`{name}=`" if in_core and name != "async_mode" else "—"
        if name == "path":
            aiohttp = "`path=`"
        tornado = f"`{name}=`" if in_core else "—"
        sanic_key = f"`{SANIC_PREFIX}{upper}`" if name in sanic else "—"
        flask_key = f"`{FLASK_PREFIX}{upper}`" if name in flask else "—"
        django_key = f"`ENGINEIO[\"{upper}\"]`" if upper in django else "—"
        rows.append((f"`{name}`", aiohttp, tornado, sanic_key, flask_key, django_key))
    return rows


def _django_keys() -> frozenset[str]:
    from django_engineio.conf import OPTION_KEYS, PACKAGE_KEYS

    return OPTION_KEYS | PACKAGE_KEYS


def _table(header: tuple[str, ...], rows: Iterator[tuple[str, ...]] | list[Any]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def configuration_tables() -> str:
    """The generated part of docs/configuration.md."""
    options = _table(("option", "default", "type", "what it does"),
                     ((f"`{o.name}`", o.default, o.type, o.doc) for o in server_options()))
    arguments = _table(("argument", "default", "type", "what it does"),
                       ((f"`{o.name}`", o.default, o.type, o.doc) for o in server_arguments()))
    keys = _table(("option", "aiohttp `setup(app, …)`", "Tornado `AsyncServer(…)`",
                   "Sanic `app.config`", "Flask `app.config`", "Django `settings.ENGINEIO`"),
                  package_keys())
    return "\n\n".join([
        "### Server options (`ServerConfig`)", options,
        "### Server arguments", arguments,
        "### Setting keys of each package", keys,
    ]) + "\n"


# --------------------------------------------------------------------------- griffe
ROLE = re.compile(r":(?:py:)?(?P<role>class|meth|func|attr|data|mod|exc|obj):"
                  r"`(?P<tilde>~?)(?P<target>[^`<]+?)(?:\s*<(?P<explicit>[^>`]+)>)?`")


class SphinxRoles(griffe.Extension):
    """Turn the Sphinx roles of docstrings into Markdown the site renders.

    ``:class:`~engineio_core.Server``` becomes an optional cross-reference: a link
    when the object is on the site, else its name in code. Relative targets are
    looked up from the docstring's object outwards. ``Text::`` (reST's literal
    block) loses one colon.
    """

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every docstring of the package."""
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = convert_roles(obj.docstring.value, obj)


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            yield from _walk(member)


def convert_roles(text: str, obj: griffe.Object | None = None, *, links: bool = True) -> str:
    """``text`` with its Sphinx roles as Markdown (see :class:`SphinxRoles`); without
    ``links``, as code only."""
    def replace(m: re.Match[str]) -> str:
        if m.group("explicit"):
            title, target = m.group("target").strip(), m.group("explicit").strip()
        else:
            target = m.group("target").strip()
            title = target.lstrip(".").rsplit(".", 1)[-1] if m.group("tilde") else target
        if m.group("role") in ("meth", "func") and not title.endswith(")"):
            title += "()"
        identifier = _qualify(target.removesuffix("()"), obj) if links else ""
        return (f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'
                if identifier else f"`{title}`")

    text = ROLE.sub(replace, text)
    text = re.sub(r"^[ \t]*::[ \t]*$", "", text, flags=re.MULTILINE)  # reST's bare "::"
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.MULTILINE)


def _qualify(target: str, obj: griffe.Object | None) -> str:
    """The full path of a role's target, looked up from ``obj`` outwards."""
    if obj is None:
        return target if "." in target else ""
    scope: griffe.Object | None = obj
    relative = target.lstrip(".")
    while scope is not None:
        head = relative.split(".")[0]
        if head in scope.members:
            return f"{scope.path}.{relative}"
        scope = scope.parent
    return target if "." in target else ""


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``--check``: is docs/configuration.md up to date? ``--write``: update it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    current = CONFIGURATION.read_text("utf-8")
    fresh = replace_generated(current, configuration_tables())
    if args.write:
        CONFIGURATION.write_text(fresh, "utf-8")
        return 0
    if fresh != current:
        print("docs/configuration.md is out of date with the code: "
              "run .venv/bin/python scripts/mkdocs_hooks.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

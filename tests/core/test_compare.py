"""``benchmarks/compare.py``'s argument handling: presets and the ``--baseline`` twins."""

from __future__ import annotations

from pathlib import Path

from benchmarks import compare


def test_baseline_twins_only_our_servers(tmp_path: Path) -> None:
    """A floor or anchor keeps its one entry: only ``ours-*`` servers get a ``base-*``
    twin, served from the other checkout's packages."""
    (tmp_path / "packages" / "engineio-core" / "src").mkdir(parents=True)
    (tmp_path / ".venv").mkdir()
    argv = compare.expand_presets(["--preset", "floors", "--rounds", "2"])
    argv, twins = compare.baseline_servers([*argv, "--baseline", str(tmp_path)])
    names = argv[argv.index("--servers") + 1].split(",")
    assert sorted(name for name, *_ in twins) == ["base-aiohttp", "base-tornado",
                                                  "base-uvicorn"]
    assert sorted(n for n in names if n.startswith("base-")) == sorted(
        name for name, *_ in twins)
    assert names.count("floor-uvicorn") == 1
    assert "--baseline" not in argv
    for _, command, _, _ in twins:
        assert command.startswith(f"env PYTHONPATH={tmp_path.resolve()}/packages/")
        assert str(compare.REPO) not in command.split(" ", 2)[2]

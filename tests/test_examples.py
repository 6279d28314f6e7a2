"""Every script under examples/ runs headless, as a user would run it, and checks its own results (each asserts
that the engine's outputs equal the golden model's); here: it exits 0 and writes what it says it writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
#: Files a script must leave in its working directory.
WRITES = {"03_sweep_pareto.py": ["pareto.png"], "04_energy_sram_vs_dram.py": ["energy_sram_vs_dram.png"]}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("examples-cache")


def test_the_examples_are_listed():
    listed = (ROOT / "examples" / "README.md").read_text()
    assert len(EXAMPLES) == 5
    for script in EXAMPLES:
        assert f"`{script.name}`" in listed, script.name


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path, cache):
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENEIE_EXAMPLES_CACHE": str(cache)}
    if script.name == "05_board.py":          # reuse the link tests' Verilator build directory
        env["OPENEIE_SIM_BUILD"] = str(ROOT / "build" / "fpga-sim")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for name in WRITES.get(script.name, []):
        assert (tmp_path / name).stat().st_size > 1000, name

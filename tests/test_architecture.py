"""The layers hold: import-linter's contracts (pyproject.toml) on the package as it is installed, and the Verilog
export in an environment without torch."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def installed_layout(root: Path) -> Path:
    """The ``openeie`` package as pyproject.toml installs it (``hw/`` as ``openeie/hw`` and so on), so that
    import-linter sees the real module names."""
    pkg = root / "openeie"
    shutil.copytree(REPO / "openeie", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("hw", "sim", "compiler", "fpga"):
        shutil.copytree(REPO / name, pkg / name, ignore=shutil.ignore_patterns("__pycache__", "*.md", "results"))
    return root


def lint(root: Path):
    return subprocess.run([str(LINT), str(REPO / "pyproject.toml")], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")
def test_import_contracts_are_kept_and_would_catch_an_upward_import(tmp_path):
    root = installed_layout(tmp_path)
    out = lint(root)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout + out.stderr
    golden = root / "openeie" / "sim" / "golden.py"
    golden.write_text(golden.read_text() + "\nfrom openeie.compiler.lower import lower  # planted\n")
    out = lint(root)
    assert out.returncode != 0 and "sim needs neither the compiler nor the gateware BROKEN" in out.stdout


def test_rtl_simulate_and_energy_need_no_torch(tmp_path):
    from openeie.compiler.benchmarks import random_layer
    from openeie.compiler.netfile import save_network
    from openeie.compiler.network import CompressedNetwork
    save_network(CompressedNetwork([random_layer(50, 20, 0.3, 4)]), tmp_path / "n.npz")
    runs = [["rtl", "--config", str(tmp_path / "cfg.json"), "-o", str(tmp_path / "e.v")],
            ["simulate", str(tmp_path / "n.npz")], ["energy", "--bench", "eie", "--layer", "NT-We"]]
    code = ("import sys; sys.modules['torch'] = None\n"      # any 'import torch' now raises ImportError
            "from openeie.cli import main\n"
            f"sys.exit(max(main(argv) for argv in {runs!r}))\n")
    (tmp_path / "cfg.json").write_text('{"n_pe": 2, "spmat_depth_words": 16, "ptr_depth": 32, "act_depth": 4, '
                                       '"bias_depth": 8, "max_layers": 2}')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "module openeie_engine" in (tmp_path / "e.v").read_text()

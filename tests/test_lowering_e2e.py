"""A compressed, trained network end to end: images -> golden model, cycle model and RTL agree."""

import numpy as np
import pytest

from openeie.compiler.compress import compress
from openeie.compiler.digits import load_digits_split, single_thread, train_digits_mlp
from openeie.compiler.images import container_bytes, program_from_bytes
from openeie.compiler.lower import lower
from openeie.flows.demo import default_demo_config
from openeie.testbench.run import rtl_available, run_program
from openeie.sim import cycle, golden


@pytest.fixture(scope="module")
def digits_program(tmp_path_factory):
    model, _ = train_digits_mlp(tmp_path_factory.mktemp("cache"))
    x_tr, y_tr, x_te, y_te = load_digits_split()
    with single_thread():
        net, report = compress(model, (x_tr, y_tr), density={"fc1": 0.08, "fc2": 0.05, "fc3": 0.25}, code_bits=4,
                               eval_data=(x_te, y_te), prune_steps=2, prune_epochs=4, finetune_epochs=2,
                               weight_decay=1e-4, progress=False)
    cfg = default_demo_config()
    program = program_from_bytes(container_bytes(lower(net, cfg)), cfg)     # through the image container
    return net, program, x_te, y_te, report


def test_golden_matches_float_network_accuracy(digits_program):
    net, program, x_te, y_te, report = digits_program
    x_q = golden.quantize_input(program.config, x_te)
    acc_engine = np.mean(np.argmax(golden.run_logical(program, x_q), axis=1) == y_te)
    acc_float = np.mean(np.argmax(net.float_forward(x_te), axis=1) == y_te)
    assert acc_float == pytest.approx(report["accuracy"]["shared"])
    assert abs(acc_engine - acc_float) <= 0.005          # 16-bit fixed point costs at most half a point here
    assert acc_engine > 0.9


def test_cycle_model_outputs_equal_golden(digits_program):
    _, program, x_te, _, _ = digits_program
    x_q = golden.quantize_input(program.config, x_te[:40])
    for x in x_q:
        outs, stats, _ = cycle.run(program, x)
        assert np.array_equal(outs[-1], golden.run(program, x)[-1])
        assert stats.counters["macs"] > 0


@pytest.mark.skipif(not rtl_available(), reason="Verilator / cocotb not available")
def test_rtl_equals_golden_and_cycle_model_on_test_images(digits_program, tmp_path):
    _, program, x_te, y_te, _ = digits_program
    x_q = golden.quantize_input(program.config, x_te[:6])
    outs, stats = run_program(program, x_q, build_root="build/rtl")
    for x, o, s in zip(x_q, outs, stats):
        assert np.array_equal(o, golden.run(program, x)[-1])
        assert s.as_dict() == cycle.run(program, x)[1].as_dict()

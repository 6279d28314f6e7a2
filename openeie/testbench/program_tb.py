"""cocotb test module that runs a compiled program on :class:`openeie.hw.Engine` (used by
:func:`openeie.testbench.run.run_program`). Inputs come from the environment:

``OPENEIE_TB_PROGRAM``  image container (``.oeie``) of the program
``OPENEIE_TB_INPUTS``   ``.npy`` of fixed-point inputs, shape ``(batch, n_in)``
``OPENEIE_TB_OUT``      JSON report: per input the last layer's storage-order outputs and the counters
"""

from __future__ import annotations

import json
import os
import random
from types import SimpleNamespace

import cocotb
import numpy as np
from cocotb.clock import Clock

from openeie.compiler.images import load_container

from .tb import CLOCK_PERIOD_NS, EngineTB


@cocotb.test()
async def run_program(dut):
    program = load_container(os.environ["OPENEIE_TB_PROGRAM"])
    x_q = np.load(os.environ["OPENEIE_TB_INPUTS"], allow_pickle=False)
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    tb = EngineTB(dut, program.config, random.Random(0), gap_prob=0.0, stall_prob=0.0)
    await tb.reset()
    runs = []
    for i, x in enumerate(x_q):
        case = SimpleNamespace(case_id=f"input{i}", program=program, x_q=x)
        result = await tb.run_case(case, reload=i == 0)
        runs.append({"outputs": result.outputs, "stats": result.stats, "errors": result.errors})
    with open(os.environ["OPENEIE_TB_OUT"], "w") as f:
        json.dump({"runs": runs}, f)

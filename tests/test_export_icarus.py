"""The exported Verilog in a second simulator: Icarus Verilog (Debian's ``iverilog``, used when present) runs
``openeie rtl``'s output under a plain-Verilog testbench, with Verilog-2005 and with SystemVerilog (-g2012)
semantics, on seeded engine cases. Every output must equal the golden model's and every counter the cycle
model's: the export must not depend on memory initialisers or on time-zero evaluation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from openeie.hw.export import export_verilog
from openeie.layout import load_word_layout, to_signed, to_unsigned
from openeie.sim import cycle, golden
from openeie.stats import Stats, counter_index
from openeie.timing import COUNTER_LATENCY

from engine_cases import CONFIGS, make_cases

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                reason="Icarus Verilog is not installed (Debian: apt-get install iverilog)")

MAX_WORDS = 8192


def bench_verilog(cfg) -> str:
    lw = load_word_layout(cfg).size
    n_counters = len(counter_index(cfg))
    sel_bits = max(1, (n_counters - 1).bit_length())
    nl_bits = max(1, cfg.max_layers.bit_length())
    return f"""`timescale 1ns/1ps
module tb;
  reg clk = 0;
  always #5 clk = ~clk;
  reg rst = 1;
  reg load_valid = 0; reg [{lw - 1}:0] load_payload = 0; wire load_ready;
  reg act_valid = 0; reg [{cfg.act_bits - 1}:0] act_payload = 0; wire act_ready;
  reg start = 0; reg [{nl_bits - 1}:0] n_layers = 0;
  wire busy, done, out_valid; wire [{cfg.act_bits - 1}:0] out_payload; reg out_ready = 0;
  reg [{sel_bits - 1}:0] counter_sel = 0; wire [31:0] counter_value;
  openeie_engine dut(.clk(clk), .rst(rst), .load__valid(load_valid), .load__ready(load_ready),
    .load__payload(load_payload), .act_in__valid(act_valid), .act_in__ready(act_ready),
    .act_in__payload(act_payload), .start(start), .n_layers(n_layers), .busy(busy), .done(done),
    .act_out__valid(out_valid), .act_out__ready(out_ready), .act_out__payload(out_payload),
    .counter_sel(counter_sel), .counter_value(counter_value));
  reg [{lw - 1}:0] loads [0:{MAX_WORDS - 1}];
  reg [{cfg.act_bits - 1}:0] acts [0:{MAX_WORDS - 1}];
  reg [31:0] meta [0:3];             // loads, activations, outputs, layers
  integer i, f, k, got;
  initial begin
    $readmemh("meta.hex", meta); $readmemh("load.hex", loads); $readmemh("act.hex", acts);
    f = $fopen("out.txt", "w");
    repeat (3) @(negedge clk);
    rst = 0;
    @(negedge clk);
    for (i = 0; i < meta[0]; i = i + 1) begin load_valid = 1; load_payload = loads[i]; @(negedge clk); end
    load_valid = 0;
    for (i = 0; i < meta[1]; i = i + 1) begin act_valid = 1; act_payload = acts[i]; @(negedge clk); end
    act_valid = 0;
    start = 1; n_layers = meta[3];
    @(negedge clk);                   // start was sampled: cycle 0
    start = 0;
    k = 0;
    while (done !== 1'b1) begin
      if (k > 2000000) begin $fdisplay(f, "timeout"); $finish; end
      @(negedge clk); k = k + 1;
    end
    $fdisplay(f, "done %0d", k);
    out_ready = 1;
    got = 0;
    while (got < meta[2]) begin
      @(negedge clk);
      if (out_valid === 1'b1) begin $fdisplay(f, "out %h", out_payload); got = got + 1; end
    end
    out_ready = 0;
    @(negedge clk);
    for (i = 0; i < {n_counters + COUNTER_LATENCY}; i = i + 1) begin
      if (i >= {COUNTER_LATENCY}) $fdisplay(f, "ctr %0d %h", i - {COUNTER_LATENCY}, counter_value);
      if (i < {n_counters}) counter_sel = i;
      @(negedge clk);
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def write_case(case, where: Path) -> None:
    cfg, program = case.cfg, case.program
    digits = -(-load_word_layout(cfg).size // 4)
    loads = program.load_port_words()
    acts = to_unsigned(program.input_storage(case.x_q), cfg.act_bits)
    assert len(loads) <= MAX_WORDS and len(acts) <= MAX_WORDS
    (where / "load.hex").write_text("".join(f"{w:0{digits}x}\n" for w in loads))
    (where / "act.hex").write_text("".join(f"{int(a):x}\n" for a in acts))
    n_out = program.layers[-1].out_slots * cfg.n_pe
    (where / "meta.hex").write_text(f"{len(loads):x}\n{len(acts):x}\n{n_out:x}\n{program.n_layers:x}\n")


def parse(case, text: str):
    cfg = case.cfg
    assert "timeout" not in text.split(), "the engine never raised done"
    done, outputs, values = None, [], {}
    names = list(counter_index(cfg))
    for line in text.splitlines():
        kind, *rest = line.split()
        if kind == "done":
            done = int(rest[0])
        elif kind == "out":
            assert "x" not in rest[0].lower(), f"an output is unknown (x): {line}"
            outputs.append(int(rest[0], 16))
        elif kind == "ctr":
            assert "x" not in rest[1].lower(), f"counter {names[int(rest[0])]} is unknown (x)"
            values[names[int(rest[0])]] = int(rest[1], 16)
    stats = Stats.from_counter_values(cfg, values, case.program.n_layers)
    return done, to_signed(np.array(outputs, dtype=np.uint64), cfg.act_bits).tolist(), stats


@pytest.mark.parametrize("config", ["pe2_c4_r2", "pe4_c8_r4"])
def test_export_runs_in_icarus(config, tmp_path):
    cfg = CONFIGS[config]
    export_verilog(cfg, tmp_path / "engine.v")
    (tmp_path / "tb.v").write_text(bench_verilog(cfg))
    cases = make_cases(config, 5, 14)
    compared = 0
    for mode in ("-g2005", "-g2012"):
        sim = tmp_path / f"sim{mode}"
        out = subprocess.run(["iverilog", mode, "-o", str(sim), "-s", "tb", "tb.v", "engine.v"], cwd=tmp_path,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        for index, case in enumerate(cases):
            if len(case.program.load_port_words()) > MAX_WORDS:
                continue
            run = tmp_path / f"case{index}{mode}"
            run.mkdir()
            write_case(case, run)
            res = subprocess.run(["vvp", "-n", str(sim)], cwd=run, capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, res.stderr[-2000:]
            done, outputs, stats = parse(case, (run / "out.txt").read_text())
            assert outputs == [int(v) for v in golden.run(case.program, case.x_q)[-1]], case.case_id
            model = cycle.run(case.program, case.x_q)[1]
            assert stats.as_dict() == model.as_dict(), case.case_id
            assert done == model.cycles, case.case_id
            compared += 1
    print(f"\n{config}: Icarus (-g2005 and -g2012) vs golden and cycle model: {compared} cases compared, "
          f"{compared} equal")
    assert compared >= 20

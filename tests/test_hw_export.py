"""Verilog export of the engine: ports, naming, the 64-PE build, environment hygiene."""

from __future__ import annotations

import os
import re

import pytest

from openeie.config import EngineConfig
from openeie.hw import Engine, export_verilog
from openeie.hw.counters import COUNTER_BITS
from openeie.hw.export import TOP_NAME
from openeie.layout import act_shape, load_word_layout
from openeie.stats import counter_index

SMALL = dict(fifo_depth=2, spmat_depth_words=16, ptr_depth=32, act_depth=4, bias_depth=8, max_layers=2)


def _ports(text):
    """``{name: (direction, width)}`` of the top module's ports."""
    top = re.search(rf"^module {TOP_NAME}\(.*?^endmodule", text, re.S | re.M).group(0)
    return {m.group(3): (m.group(1), int(m.group(2) or 0) + 1)
            for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", top, re.M)}


def test_export_ports(tmp_path):
    cfg = EngineConfig(n_pe=4, **SMALL)
    text = export_verilog(cfg, tmp_path / "e.v").read_text()
    ports = _ports(text)
    expect = {
        "clk": ("input", 1), "rst": ("input", 1),
        "load__payload": ("input", load_word_layout(cfg).size), "load__valid": ("input", 1),
        "load__ready": ("output", 1),
        "act_in__payload": ("input", act_shape(cfg).width), "act_in__valid": ("input", 1),
        "act_in__ready": ("output", 1),
        "start": ("input", 1), "busy": ("output", 1), "done": ("output", 1),
        "act_out__payload": ("output", act_shape(cfg).width), "act_out__valid": ("output", 1),
        "act_out__ready": ("input", 1),
        "counter_sel": ("input", (len(counter_index(cfg)) - 1).bit_length()),
        "counter_value": ("output", COUNTER_BITS),
    }
    for name, value in expect.items():
        assert ports.get(name) == value, name
    assert "n_layers" in ports


def test_export_64_pes(tmp_path):
    """n_pe = 64 (EIE's count) elaborates and converts (small memories keep it quick)."""
    cfg = EngineConfig(n_pe=64, **SMALL)
    text = export_verilog(cfg, tmp_path / "e64.v").read_text()
    assert f"module {TOP_NAME}(" in text
    assert "pe63" in text
    assert _ports(text)["counter_sel"] == ("input", (len(counter_index(cfg)) - 1).bit_length())


def test_export_uses_builtin_yosys(tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", "definitely-not-a-yosys")
    monkeypatch.delenv("AMARANTH_USE_YOSYS", raising=False)
    export_verilog(EngineConfig(n_pe=1, **SMALL), tmp_path / "e1.v")
    assert "AMARANTH_USE_YOSYS" not in os.environ


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="EngineConfig"):
        Engine({"n_pe": 4})
    with pytest.raises(TypeError, match="EngineConfig"):
        export_verilog("cfg.json", tmp_path / "x.v")

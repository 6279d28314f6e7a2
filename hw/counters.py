"""Performance counters and the counter port."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import bits_for
from openeie.stats import COUNTERS, counter_index

from .common import index_shape, layer_shape

__all__ = ["COUNTER_BITS", "increment_layout", "Counters"]

#: Width of every counter register and of ``counter_value`` (counters wrap modulo ``2**COUNTER_BITS``).
COUNTER_BITS = 32


def increment_layout(cfg) -> data.StructLayout:
    """Per-cycle increments of the global counters (at most ``2 * n_pe`` each), in :data:`COUNTERS` order."""
    return data.StructLayout({name: unsigned(bits_for(2 * cfg.n_pe)) for name in COUNTERS})


class Counters(wiring.Component):
    """The counters of :mod:`openeie.stats` with a registered read port.

    Every counter is cleared by ``clear`` (the cycle ``start`` is sampled) and adds the increment of the
    previous cycle (the inputs are registered first, so no event path ends in a counter's carry chain; the
    increments are zero outside the run, so the counters hold their final values from the cycle after
    ``done`` on).
    ``layer_cycles[layer]`` adds the ``cycles`` increment. ``value`` shows, one cycle after, the counter at
    address ``sel`` of :func:`openeie.stats.counter_index` (0 for an address past the last counter).

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    clear : In(1)
    inc : In(increment_layout(cfg))
    pe_busy : In(n_pe)
        Bit p: PE p's stage S issued an entry this cycle.
    layer : In(unsigned)
    sel : In(unsigned)
    value : Out(COUNTER_BITS)
    """

    def __init__(self, cfg):
        self._cfg = cfg
        n_counters = len(counter_index(cfg))
        super().__init__({
            "clear": In(1),
            "inc": In(increment_layout(cfg)),
            "pe_busy": In(cfg.n_pe),
            "layer": In(layer_shape(cfg)),
            "sel": In(index_shape(n_counters)),
            "value": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        index = counter_index(cfg)
        regs = {name: Signal(COUNTER_BITS, name=name.replace("[", "_").replace("]", "")) for name in index}

        inc = Signal.like(self.inc)            # the previous cycle's increments
        pe_busy = Signal.like(self.pe_busy)
        layer = Signal.like(self.layer)
        m.d.sync += [inc.eq(self.inc), pe_busy.eq(self.pe_busy), layer.eq(self.layer)]

        def count(name, increment):
            with m.If(self.clear):
                m.d.sync += regs[name].eq(0)
            with m.Else():
                m.d.sync += regs[name].eq(regs[name] + increment)

        for name in COUNTERS:
            count(name, inc[name])
        for p in range(cfg.n_pe):
            count(f"pe_busy[{p}]", pe_busy[p])
        for l in range(cfg.max_layers):
            count(f"layer_cycles[{l}]", inc.cycles & (layer == l))

        with m.Switch(self.sel):
            for name, address in index.items():
                with m.Case(address):
                    m.d.sync += self.value.eq(regs[name])
            with m.Default():
                m.d.sync += self.value.eq(0)
        return m

"""Performance counters and the counter port."""

from __future__ import annotations

from amaranth.hdl import C, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import bits_for
from openeie.stats import COUNTERS, counter_index

from .interfaces import index_shape, layer_shape

__all__ = ["COUNTER_BITS", "increment_layout", "Counters"]

#: Width of every counter and of ``counter_value`` (counters wrap modulo ``2**COUNTER_BITS``).
COUNTER_BITS = 32



def increment_layout(cfg) -> data.StructLayout:
    """Per-cycle increments of the global counters (at most ``2 * n_pe`` each), in :data:`COUNTERS` order."""
    return data.StructLayout({name: unsigned(bits_for(2 * cfg.n_pe)) for name in COUNTERS})


class Counters(wiring.Component):
    """The counters of :mod:`openeie.stats`, kept as a small low part in flip-flops and a ``COUNTER_BITS``-wide
    high part in one block RAM, with a read port of latency :data:`~openeie.timing.COUNTER_LATENCY`.

    Thirty-two-bit counters in logic cost a quarter of an iCE40UP5K (an adder and a flip-flop per bit, plus the
    read multiplexer); here each counter has a ``low_bits``-wide low part that adds its increment every cycle,
    and one counter per cycle is *flushed*: its low part is taken out (the low part restarts from this cycle's
    increment), the high part is read, and one cycle later ``high + low part`` is written back. A counter's
    value is always ``high + low part``, with a flush in flight counted once.

    * ``clear`` (the cycle ``start`` is sampled) zeroes every counter: the low parts, and a valid bit per high
      part (a high part not written since ``clear`` reads as 0).
    * The inputs are registered first: a counter adds the increments of the previous cycle (no event path ends
      in a counter); ``layer_cycles[layer]`` adds the ``cycles`` increment.
    * ``scan`` takes effect one cycle later. While it is in effect the flushes go round-robin over all
      counters, so a low part gathers at most ``n_counters + 1`` cycles of increments (``low_bits`` is sized for
      that). Otherwise the counter at address ``sel`` is flushed, and ``value`` shows its full value
      ``COUNTER_LATENCY`` cycles later (0 for an address past the last counter). Hold ``scan`` high from the
      cycle before the first non-zero increment to the cycle after the last.

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
    scan : In(1)
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
            "scan": In(1),
            "sel": In(index_shape(n_counters)),
            "value": Out(COUNTER_BITS),
        })

    @staticmethod
    def low_bits(cfg) -> int:
        """Width of a low part: ``n_counters + 2`` cycles of the largest increment."""
        largest = (1 << bits_for(2 * cfg.n_pe)) - 1
        return bits_for((len(counter_index(cfg)) + 2) * largest)

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        index = counter_index(cfg)
        n_counters = len(index)

        inc = Signal.like(self.inc)            # the previous cycle's increments
        pe_busy = Signal.like(self.pe_busy)
        layer = Signal.like(self.layer)
        m.d.sync += [inc.eq(self.inc), pe_busy.eq(self.pe_busy), layer.eq(self.layer)]
        increment = {name: inc[name] for name in COUNTERS}
        increment.update({f"pe_busy[{p}]": pe_busy[p] for p in range(cfg.n_pe)})
        increment.update({f"layer_cycles[{l}]": Mux(layer == l, inc.cycles, 0) for l in range(cfg.max_layers)})

        # ---- flush stage 0: pick a counter, take its low part out, read its high part ----
        rr = Signal(index_shape(n_counters))
        m.d.sync += rr.eq(Mux(rr == n_counters - 1, 0, rr + 1))
        scan = Signal()                        # registered: no path from the controller's phase to the flush
        m.d.sync += scan.eq(self.scan)
        pick = Signal(len(self.sel))
        m.d.comb += pick.eq(Mux(scan, rr, self.sel))
        low_bits = self.low_bits(cfg)
        snapshot = Signal(low_bits)
        ok = Signal(n_counters)                # high part written since clear
        pick_ok = Signal()
        lows = {name: Signal(low_bits, name="low_" + name.replace("[", "_").replace("]", "")) for name in index}
        for name, address in index.items():
            m.d.sync += lows[name].eq(lows[name] + increment[name])
        with m.Switch(pick):
            for name, address in index.items():
                with m.Case(address):
                    m.d.comb += [snapshot.eq(lows[name]), pick_ok.eq(ok[address])]
                    m.d.sync += lows[name].eq(increment[name])      # restarts: the old part is flushed

        m.submodules.high = high = memory.Memory(shape=COUNTER_BITS, depth=n_counters, init=[])
        rd = high.read_port()
        wr = high.write_port()
        f_valid, f_ok = Signal(), Signal()
        f_addr = Signal.like(pick)
        f_low = Signal(low_bits)
        m.d.comb += [rd.addr.eq(pick), rd.en.eq(1)]
        f_bypass = Signal()                    # the write at the end of this cycle is to the counter picked now
        m.d.sync += [f_valid.eq(pick < n_counters), f_addr.eq(pick), f_low.eq(snapshot), f_ok.eq(pick_ok),
                     f_bypass.eq(f_valid & (f_addr == pick))]

        # ---- flush stage 1: high + low part, written back; bypass of the write of the cycle before ----
        w_value = Signal(COUNTER_BITS)
        high_old = Mux(f_bypass, w_value, Mux(f_ok, rd.data, 0))
        total = Signal(COUNTER_BITS)
        m.d.comb += [
            total.eq(high_old + f_low),
            wr.addr.eq(f_addr), wr.data.eq(total), wr.en.eq(f_valid),
        ]
        m.d.sync += [w_value.eq(total), self.value.eq(Mux(f_valid, total, 0))]
        with m.If(f_valid):
            m.d.sync += ok.eq(ok | (C(1, n_counters) << f_addr))

        with m.If(self.clear):                 # last, so it wins over the updates above
            m.d.sync += [ok.eq(0), f_valid.eq(0), f_bypass.eq(0)]
            m.d.sync += [low.eq(0) for low in lows.values()]
        return m

"""Activation broadcast: leading non-zero detection over one activation group."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.layout import layer_desc_layout

from .common import act_word_layout, bcast_layout, col_shape, mem_read_signature, index_shape

__all__ = ["LeadingNonZero", "Broadcaster"]


class LeadingNonZero(wiring.Component):
    """Leading non-zero detection (LNZD): the lowest set bit of a mask, found by a tree of two-input
    priority nodes (depth ``ceil(log2(width))``), as in [EIE] section IV. Purely combinational.

    Parameters
    ----------
    width : int
        Mask width (the number of activations in a group, ``n_pe``).

    Attributes
    ----------
    mask : In(width)
        Bit ``i`` set when lane ``i`` holds a non-zero activation still to be broadcast.
    valid : Out(1)
        Some bit of ``mask`` is set.
    index : Out(max(1, ceil(log2(width))))
        Index of the lowest set bit (meaningless when ``valid`` is low).
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or width < 1:
            self._MustUse__silence = True
            raise ValueError(f"LNZD width must be a positive integer, not {width!r}")
        self._width = width
        super().__init__({"mask": In(width), "valid": Out(1), "index": Out(index_shape(width))})

    def elaborate(self, platform):
        m = Module()
        # Each node is (any bit set, index of the lowest set bit within the node's lanes).
        nodes = [(self.mask[i], C(0, 0)) for i in range(self._width)]
        level = 0
        while len(nodes) > 1:
            pairs = []
            for k in range(0, len(nodes), 2):
                if k + 1 == len(nodes):
                    valid, index = nodes[k]
                    pairs.append((valid, Cat(index, C(0, 1))))
                    continue
                (lo_valid, lo_index), (hi_valid, hi_index) = nodes[k], nodes[k + 1]
                valid = Signal(name=f"l{level}_n{k // 2}_valid")
                index = Signal(level + 1, name=f"l{level}_n{k // 2}_index")
                m.d.comb += [
                    valid.eq(lo_valid | hi_valid),
                    index.eq(Mux(lo_valid, Cat(lo_index, C(0, 1)), Cat(hi_index, C(1, 1)))),
                ]
                pairs.append((valid, index))
            nodes = pairs
            level += 1
        valid, index = nodes[0]
        m.d.comb += [self.valid.eq(valid), self.index.eq(index)]
        return m


class Broadcaster(wiring.Component):
    """Activation broadcaster: reads the layer's input groups from the source bank one at a time and offers
    the non-zero activations of the held group in lane order as (j, a_j) pairs.

    Cycle semantics (COMPUTE cycle numbering, docs/engine.md "Broadcast"):

    * ``begin`` (COMPUTE cycle 0): group 0 is read; it is held from cycle 1 (``T0 = 1``).
    * Each cycle with a group held: if no non-zero of the group is left, the next group is read in this cycle
      and held from the next one. Otherwise the leading (lowest-lane) non-zero left is offered on ``o``;
      it is pushed when ``o.ready`` (no PE queue full) and ``stall`` is high otherwise. When the last non-zero
      of the group is pushed, the next group is read in the same cycle and held from the next.
    * After the last group ``finished`` is high (from cycle ``B`` on, until ``run`` drops).

    The held group is the source bank's read-port output (an SRAM keeps its data while not enabled); a
    ``sent`` mask records the lanes already pushed, so no copy of the group is registered.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    run : In(1)
        High during COMPUTE; low resets the broadcaster.
    begin : In(1)
        First cycle of COMPUTE.
    in_groups : In(unsigned)
        Number of input groups (activation words) of the layer.
    rd : Out(read port)
        Source-bank read port (``addr``, ``en``; ``data`` is one activation word).
    o : Out(stream.Signature(bcast_layout(cfg)))
        Offered (j, a_j); a transfer is a push into every PE's queue.
    stall : Out(1)
        A non-zero is offered but not accepted this cycle.
    finished : Out(1)
        The broadcaster holds no group any more (``t >= B``).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "run": In(1),
            "begin": In(1),
            "in_groups": In(layer_desc_layout(cfg)["in_groups"].shape),
            "rd": Out(mem_read_signature(index_shape(cfg.act_depth), act_word_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
            "stall": Out(1),
            "finished": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.lnzd = lnzd = LeadingNonZero(cfg.n_pe)

        held = Signal()                                        # a group is held (read port data valid)
        finished = Signal()
        group = Signal(self.in_groups.shape())                 # index of the held group
        col_base = Signal(col_shape(cfg))                      # group * n_pe
        sent = Signal(cfg.n_pe)                                # lanes of the held group already pushed

        lanes = self.rd.data
        m.d.comb += lnzd.mask.eq(Cat(*[(lanes[i] != 0) & ~sent[i] for i in range(cfg.n_pe)]))
        lead = C(1, cfg.n_pe) << lnzd.index
        rest = lnzd.mask & ~lead                               # non-zeros left after the leading one
        m.d.comb += [
            self.o.valid.eq(held & lnzd.valid),
            self.o.payload.col.eq(col_base + lnzd.index),
            self.o.payload.act.eq(lanes[lnzd.index]),
            self.stall.eq(self.o.valid & ~self.o.ready),
            self.finished.eq(finished),
        ]

        def advance():
            # Read the next group (held from the next cycle) or finish after the last one.
            with m.If(group + 1 < self.in_groups):
                m.d.comb += [self.rd.addr.eq(group + 1), self.rd.en.eq(1)]
                m.d.sync += [group.eq(group + 1), col_base.eq(col_base + cfg.n_pe), sent.eq(0)]
            with m.Else():
                m.d.sync += [held.eq(0), finished.eq(1)]

        with m.If(~self.run):
            m.d.sync += [held.eq(0), finished.eq(0)]
        with m.Elif(self.begin):
            m.d.sync += [group.eq(0), col_base.eq(0), sent.eq(0)]
            with m.If(self.in_groups != 0):
                m.d.comb += [self.rd.addr.eq(0), self.rd.en.eq(1)]
                m.d.sync += held.eq(1)
            with m.Else():
                m.d.sync += finished.eq(1)
        with m.Elif(held):
            with m.If(~lnzd.valid):
                advance()
            with m.Elif(self.o.ready):
                m.d.sync += sent.eq(sent | lead)
                with m.If(rest == 0):
                    advance()
        return m

"""Activation broadcast: leading non-zero detection over one activation group."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.errors import InputError
from openeie.layout import layer_desc_layout

from .interfaces import act_word_layout, bcast_layout, index_shape, mem_read_signature

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
            raise InputError(f"LNZD width must be a positive integer, not {width!r}")
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
    the non-zero activations of the held group in lane order as (pointer index, a_j) pairs.

    Cycle semantics (COMPUTE cycle numbering, docs/engine.md "Broadcast"):

    * COMPUTE cycle 0 (``begin``): nothing is offered; group 0 is held from cycle 1 (``T0 = 1``).
    * Each cycle with a group held: if no non-zero of the group is left, the next group is held from the next
      cycle. Otherwise the leading (lowest-lane) non-zero left is offered on ``o``; it is pushed when
      ``o.ready`` (no PE queue full) and ``stall`` is high otherwise. When the last non-zero of the group is
      pushed, the next group is held from the next cycle.
    * After the last group ``finished`` is high (from cycle ``B`` on, until the next ``load``).

    Implementation: a prefetch pipeline, S (the bank's read-port output) -> N (a two-entry queue of registered
    groups with their non-zero masks) -> H (the held group), that starts at ``load`` (DESC, one cycle before
    the descriptor is registered) and is full by COMPUTE cycle 1. Every cycle in which H is consumed it takes
    N's head, and the bank is read whenever S and N hold at most two groups between them (a decision from
    registers alone), so an all-zero group costs one cycle as the contract says.
    The offer itself is registered: H keeps the non-zeros left (``rem``), whether any / exactly one is left,
    and the offered pair, computed one cycle ahead from N's mask or from ``rem`` with its lowest bit cleared.
    So no path runs from the bank's output or through leading non-zero detection into a push. Every group
    is read exactly once (``act_reads``).

    The pair carries ``ptr = ptr_base + j`` (the index of the column's first pointer), so the PEs' pointer
    read needs no adder.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    load : In(1)
        Start of a layer (DESC step 1): take ``in_groups`` and ``ptr_base`` and read group 0.
    in_groups, ptr_base : In(unsigned)
        The layer's descriptor fields, valid with ``load``.
    run : In(1)
        High during COMPUTE.
    begin : In(1)
        First cycle of COMPUTE.
    rd : Out(read port)
        Source-bank read port (``addr``, ``en``; ``data`` is one activation word).
    o : Out(stream.Signature(bcast_layout(cfg)))
        Offered (pointer index, a_j); a transfer is a push into every PE's queue.
    stall : Out(1)
        A non-zero is offered but not accepted this cycle.
    finished : Out(1)
        The broadcaster holds no group any more (``t >= B``).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        desc = layer_desc_layout(cfg)
        super().__init__({
            "load": In(1),
            "in_groups": In(desc["in_groups"].shape),
            "ptr_base": In(desc["ptr_base"].shape),
            "run": In(1),
            "begin": In(1),
            "rd": Out(mem_read_signature(index_shape(cfg.act_depth), act_word_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
            "stall": Out(1),
            "finished": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        n = cfg.n_pe
        m = Module()
        m.submodules.lnzd_n = lnzd_n = LeadingNonZero(n)     # on N's mask (H takes N)
        m.submodules.lnzd_r = lnzd_r = LeadingNonZero(n)     # on H's mask with the lowest bit cleared (a push)

        ptr_shape = unsigned(len(self.o.payload.ptr) + 1)
        groups = Signal.like(self.in_groups)
        rd_next = Signal.like(self.in_groups)                  # groups read so far
        rd_more = Signal()                                     # rd_next < groups
        rd_ptr = Signal(ptr_shape)                             # ptr_base + rd_next * n
        s_valid, s_ptr = Signal(), Signal(ptr_shape)           # S: the bank output holds a group to take
        # N: a two-entry queue of registered groups with their non-zero masks (entry 0 is the head)
        group = data.StructLayout({"ptr": ptr_shape, "data": act_word_layout(cfg), "mask": n})
        n_count = Signal(range(3))
        n_group = [Signal(group, name=f"n{k}") for k in range(2)]
        h_valid, h_ptr = Signal(), Signal(ptr_shape)           # H: the held group
        h_data = Signal(act_word_layout(cfg))
        h_rem = Signal(n)                                      # non-zeros of H not pushed yet
        h_any, h_last = Signal(), Signal()                     # h_rem != 0, exactly one bit of h_rem set
        offer = Signal(bcast_layout(cfg))                      # the pair offered while h_any
        active, finished = Signal(), Signal()

        def lowest_cleared(mask):
            return mask & (mask - 1)

        lanes = self.rd.data
        head = n_group[0]
        rem_next = Signal(n)
        m.d.comb += [
            lnzd_n.mask.eq(n_group[0].mask),
            rem_next.eq(lowest_cleared(h_rem)),
            lnzd_r.mask.eq(rem_next),
            self.o.valid.eq(active & h_valid & h_any),
            self.o.payload.eq(offer),
            self.stall.eq(self.o.valid & ~self.o.ready),
            self.finished.eq(finished),
        ]
        push = self.o.valid & self.o.ready
        h_done = active & h_valid & (~h_any | (self.o.ready & h_last))
        h_take = (n_count != 0) & (~h_valid | h_done)
        n_push = s_valid & ((n_count != 2) | h_take)
        # The bank is read whenever S and N together hold at most two groups: S's group then always finds
        # room in N this cycle. Registers only, so no path runs from the queues' levels to the bank.
        s_read = rd_more & ((n_count + s_valid) <= 2)

        with m.If(self.load):
            m.d.sync += [groups.eq(self.in_groups), active.eq(0), finished.eq(0),
                         h_valid.eq(0), n_count.eq(0), s_valid.eq(0), rd_next.eq(0), rd_more.eq(0)]
            with m.If(self.in_groups != 0):
                m.d.comb += [self.rd.addr.eq(0), self.rd.en.eq(1)]
                m.d.sync += [s_valid.eq(1), s_ptr.eq(self.ptr_base), rd_next.eq(1),
                             rd_more.eq(self.in_groups > 1), rd_ptr.eq(self.ptr_base + n)]
        with m.Else():
            with m.If(~self.run):
                m.d.sync += active.eq(0)
            with m.Elif(self.begin):
                m.d.sync += active.eq(1)
                with m.If(groups == 0):
                    m.d.sync += finished.eq(1)

            with m.If(s_read):
                m.d.comb += [self.rd.addr.eq(rd_next), self.rd.en.eq(1)]
                m.d.sync += [s_valid.eq(1), s_ptr.eq(rd_ptr), rd_next.eq(rd_next + 1),
                             rd_more.eq(rd_next + 1 < groups), rd_ptr.eq(rd_ptr + n)]
            with m.Elif(n_push):
                m.d.sync += s_valid.eq(0)

            s_group = Signal(group)
            m.d.comb += [s_group.ptr.eq(s_ptr), s_group.data.eq(lanes),
                         s_group.mask.eq(Cat(*[lanes[i] != 0 for i in range(n)]))]
            m.d.sync += n_count.eq(n_count + n_push - h_take)
            with m.If(h_take):                                 # the head leaves: entry 1 moves up
                m.d.sync += n_group[0].eq(n_group[1])
            with m.If(n_push):                                 # S's group joins at the tail
                tail = Mux(h_take, n_count - 1, n_count)
                with m.If(tail == 0):
                    m.d.sync += n_group[0].eq(s_group)
                with m.Else():
                    m.d.sync += n_group[1].eq(s_group)

            with m.If(h_take):
                m.d.sync += [
                    h_valid.eq(1), h_ptr.eq(head.ptr), h_data.eq(head.data), h_rem.eq(head.mask),
                    h_any.eq(lnzd_n.valid), h_last.eq(lowest_cleared(head.mask) == 0),
                    offer.ptr.eq(head.ptr + lnzd_n.index), offer.act.eq(head.data[lnzd_n.index]),
                ]
            with m.Elif(h_done):                               # the last group is done
                m.d.sync += [h_valid.eq(0), finished.eq(1)]
            with m.Elif(push):
                m.d.sync += [
                    h_rem.eq(rem_next), h_any.eq(lnzd_r.valid), h_last.eq(lowest_cleared(rem_next) == 0),
                    offer.ptr.eq(h_ptr + lnzd_r.index), offer.act.eq(h_data[lnzd_r.index]),
                ]
        return m

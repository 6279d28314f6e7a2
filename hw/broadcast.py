"""Activation broadcast: leading non-zero detection over one activation group."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from openeie.errors import InputError
from openeie.layout import bits_for, layer_desc_layout

from .interfaces import acc_addr_shape, act_word_layout, bcast_layout, index_shape, mem_read_signature

__all__ = ["LeadingNonZero", "Broadcaster", "PatchWalker"]


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
      ``o.ready`` (no PE queue full as the engine counts them, a pop a cycle late) and ``stall`` is high
      otherwise. When the last non-zero of the group is pushed, the next group is held from the next cycle.
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

    On a convolution engine the words come from a :class:`PatchWalker` (docs/engine.md, "Broadcast walk"):
    every output position's patch in turn, a padding word entering the pipeline as an all-zero word without a
    bank read, and every pair carries its position's row base ``p * out_slots``. The walk's first read is in
    INIT's first cycle instead of at ``load``: INIT lasts at least two cycles, so group 0 is still held from
    COMPUTE cycle 1.

    Parameters
    ----------
    cfg : EngineConfig

    Attributes
    ----------
    load : In(1)
        Start of a layer (DESC step 1): take ``in_groups`` and ``ptr_base`` and read group 0.
    in_groups, ptr_base : In(unsigned)
        The layer's descriptor fields, valid with ``load``.
    desc_next, desc : In(layer_desc_layout(cfg))
        Convolution engines only: the descriptor with ``load``, and the registered descriptor (from INIT on).
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
        ports = {
            "load": In(1),
            "in_groups": In(desc["in_groups"].shape),
            "ptr_base": In(desc["ptr_base"].shape),
            "run": In(1),
            "begin": In(1),
            "rd": Out(mem_read_signature(index_shape(cfg.act_depth), act_word_layout(cfg))),
            "o": Out(stream.Signature(bcast_layout(cfg))),
            "stall": Out(1),
            "finished": Out(1),
        }
        if cfg.conv:
            ports.update({"desc_next": In(desc), "desc": In(desc)})
        super().__init__(ports)

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
        fields = {"ptr": ptr_shape, "data": act_word_layout(cfg), "mask": n}
        if cfg.conv:
            fields["row"] = acc_addr_shape(cfg)
        group = data.StructLayout(fields)
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
        # Everything that depends on the queues' readiness (the AND of the queue counts' "room" flip-flops) is
        # built twice, for ready and not ready, and ``o.ready`` picks between the two at the registers' inputs.
        def decisions(ready):
            push = self.o.valid & ready
            h_done = active & h_valid & (~h_any | (ready & h_last))
            h_take = (n_count != 0) & (~h_valid | h_done)
            n_push = s_valid & ((n_count != 2) | h_take)
            return push, h_done, h_take, n_push
        # The bank is read whenever S and N together hold at most two groups: S's group then always finds
        # room in N this cycle. Registers only, so no path runs from the queue counts to the bank.
        if cfg.conv:
            m.submodules.walker = walker = PatchWalker(cfg)
            m.d.comb += [walker.load.eq(self.load), walker.desc_next.eq(self.desc_next), walker.desc.eq(self.desc)]
            s_read = walker.valid & ((n_count + s_valid) <= 2)
            s_pad, s_row = Signal(), Signal(acc_addr_shape(cfg))  # S: a padding word (not read), its row base
        else:
            s_read = rd_more & ((n_count + s_valid) <= 2)

        with m.If(self.load):
            m.d.sync += [groups.eq(self.in_groups), active.eq(0), finished.eq(0),
                         h_valid.eq(0), n_count.eq(0), s_valid.eq(0), rd_next.eq(0), rd_more.eq(0)]
            if not cfg.conv:     # a convolution engine's walk starts reading in INIT (it lasts >= 2 cycles)
                with m.If(self.in_groups != 0):
                    m.d.comb += [self.rd.addr.eq(0), self.rd.en.eq(1)]
                    m.d.sync += [s_valid.eq(1), s_ptr.eq(self.ptr_base), rd_next.eq(1),
                                 rd_more.eq(self.in_groups > 1), rd_ptr.eq(self.ptr_base + n)]
        with m.Else():
            with m.If(~self.run):
                m.d.sync += active.eq(0)
            with m.Elif(self.begin):
                m.d.sync += active.eq(1)
                if not cfg.conv:
                    with m.If(groups == 0):
                        m.d.sync += finished.eq(1)

            with m.If(s_read):
                if cfg.conv:
                    m.d.comb += [self.rd.addr.eq(walker.addr), self.rd.en.eq(walker.inside), walker.next.eq(1)]
                    m.d.sync += [s_valid.eq(1), s_ptr.eq(walker.ptr), s_pad.eq(~walker.inside),
                                 s_row.eq(walker.row)]
                else:
                    m.d.comb += [self.rd.addr.eq(rd_next), self.rd.en.eq(1)]
                    m.d.sync += [s_valid.eq(1), s_ptr.eq(rd_ptr), rd_next.eq(rd_next + 1),
                                 rd_more.eq(rd_next + 1 < groups), rd_ptr.eq(rd_ptr + n)]

            s_group = Signal(group)
            m.d.comb += [s_group.ptr.eq(s_ptr), s_group.data.eq(lanes),
                         s_group.mask.eq(Cat(*[lanes[i] != 0 for i in range(n)]))]
            if cfg.conv:
                m.d.comb += s_group.row.eq(s_row)
                with m.If(s_pad):                              # padding: all zero, nothing was read
                    m.d.comb += [s_group.data.eq(0), s_group.mask.eq(0)]
            def advance(push, h_done, h_take, n_push):
                """The register updates of N and H (and S emptying into N), given the cycle's decisions."""
                with m.If(~s_read & n_push):
                    m.d.sync += s_valid.eq(0)
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
                    if cfg.conv:
                        m.d.sync += offer.row.eq(head.row)
                with m.Elif(h_done):                               # the last group is done
                    m.d.sync += [h_valid.eq(0), finished.eq(1)]
                with m.Elif(push):
                    m.d.sync += [
                        h_rem.eq(rem_next), h_any.eq(lnzd_r.valid), h_last.eq(lowest_cleared(rem_next) == 0),
                        offer.ptr.eq(h_ptr + lnzd_r.index), offer.act.eq(h_data[lnzd_r.index]),
                    ]

            with m.If(self.o.ready):
                advance(*decisions(1))
            with m.Else():
                advance(*decisions(0))
        return m


class PatchWalker(wiring.Component):
    """The broadcast walk of a convolution engine (docs/engine.md, "Broadcast walk"): for every output position
    p (row-major) the words of its patch in the order ky, kx, g, with their activation address, whether they lie
    inside the image (else a padding word), the pointer index ``ptr_base + ((ky*D + kx)*in_groups + g)*n_pe`` of
    their lane 0 and the position's row base ``p * out_slots``. A fully connected layer is a 1 x 1 image: its
    words 0 .. in_groups-1.

    Incremental, without multipliers: the address advances by 1 within a kernel row (g, then kx), by
    ``line_words`` to the next kernel row, by ``col_step`` to the next position and by ``row_step`` to the next
    row of positions, from ``-pad_words`` (pixel (-pad, -pad)); the pixel coordinates (ix, iy) advance beside it
    for the inside test.

    Cycle semantics: ``load`` sets word 0 (from ``desc_next``); the outputs describe the current word while
    ``valid``; ``next`` moves to the following word (using ``desc``, the registered descriptor), and past the
    last word ``valid`` falls.

    Attributes
    ----------
    load, next : In(1)
    desc_next, desc : In(layer_desc_layout(cfg))
    valid, inside : Out(1)
    addr : Out(index_shape(act_depth))
        Activation word of the current word (meaningful when ``inside``).
    ptr : Out(unsigned)
        ``ptr_base + j`` of the word's lane 0.
    row : Out(acc_addr_shape(cfg))
    """

    def __init__(self, cfg):
        self._cfg = cfg
        desc = layer_desc_layout(cfg)
        super().__init__({
            "load": In(1), "next": In(1), "desc_next": In(desc), "desc": In(desc),
            "valid": Out(1), "inside": Out(1), "addr": Out(index_shape(cfg.act_depth)),
            "ptr": Out(unsigned(Shape.cast(bcast_layout(cfg)["ptr"].shape).width + 1)),
            "row": Out(acc_addr_shape(cfg)),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        n = cfg.n_pe
        m = Module()
        d, dn = self.desc, self.desc_next
        span = cfg.act_depth * (2 * cfg.max_kernel + cfg.max_image_side + 2)
        addr_shape = signed(bits_for(span) + 1)
        coord_shape = signed(bits_for(cfg.max_image_side + 2 * cfg.max_kernel) + 1)
        g, kx, ky = Signal.like(d.in_groups), Signal.like(d.kernel), Signal.like(d.kernel)
        ox, oy = Signal.like(d.out_w), Signal.like(d.out_h)
        ix, iy, ix0, iy0 = (Signal(coord_shape, name=k) for k in ("ix", "iy", "ix0", "iy0"))
        addr, kr_addr, pos_addr, row_addr = (Signal(addr_shape, name=k) for k in ("addr", "kr_addr", "pos_addr",
                                                                                   "row_addr"))
        ptr = Signal.like(self.ptr)
        row = Signal.like(self.row)
        valid = Signal()
        m.d.comb += [
            self.valid.eq(valid), self.ptr.eq(ptr), self.row.eq(row), self.addr.eq(addr[:len(self.addr)]),
            self.inside.eq((iy >= 0) & (iy < d.in_h) & (ix >= 0) & (ix < d.in_w)),
        ]
        with m.If(self.load):
            start = Signal(addr_shape)
            m.d.comb += start.eq(-dn.pad_words)
            m.d.sync += [g.eq(0), kx.eq(0), ky.eq(0), ox.eq(0), oy.eq(0), ix.eq(-dn.pad), iy.eq(-dn.pad),
                         ix0.eq(-dn.pad), iy0.eq(-dn.pad), addr.eq(start), kr_addr.eq(start), pos_addr.eq(start),
                         row_addr.eq(start), ptr.eq(dn.ptr_base), row.eq(0), valid.eq(1)]
        with m.Elif(self.next & valid):
            with m.If(g != d.in_groups - 1):
                m.d.sync += [g.eq(g + 1), addr.eq(addr + 1), ptr.eq(ptr + n)]
            with m.Elif(kx != d.kernel - 1):
                m.d.sync += [g.eq(0), kx.eq(kx + 1), ix.eq(ix + 1), addr.eq(addr + 1), ptr.eq(ptr + n)]
            with m.Elif(ky != d.kernel - 1):
                m.d.sync += [g.eq(0), kx.eq(0), ky.eq(ky + 1), ix.eq(ix0), iy.eq(iy + 1),
                             kr_addr.eq(kr_addr + d.line_words), addr.eq(kr_addr + d.line_words), ptr.eq(ptr + n)]
            with m.Else():                                     # the next output position
                m.d.sync += [g.eq(0), kx.eq(0), ky.eq(0), ptr.eq(d.ptr_base), row.eq(row + d.out_slots)]
                with m.If(ox != d.out_w - 1):
                    m.d.sync += [ox.eq(ox + 1), ix0.eq(ix0 + d.stride), ix.eq(ix0 + d.stride), iy.eq(iy0),
                                 pos_addr.eq(pos_addr + d.col_step), kr_addr.eq(pos_addr + d.col_step),
                                 addr.eq(pos_addr + d.col_step)]
                with m.Elif(oy != d.out_h - 1):
                    m.d.sync += [ox.eq(0), oy.eq(oy + 1), ix0.eq(-d.pad), ix.eq(-d.pad), iy0.eq(iy0 + d.stride),
                                 iy.eq(iy0 + d.stride), row_addr.eq(row_addr + d.row_step),
                                 pos_addr.eq(row_addr + d.row_step), kr_addr.eq(row_addr + d.row_step),
                                 addr.eq(row_addr + d.row_step)]
                with m.Else():
                    m.d.sync += valid.eq(0)
        return m

"""Deliberately faulty copies of the blocks, to show that every formal contract can fail.

A mutant is the block's own source with one line replaced, executed as a sibling module of the original
(same package, so its relative imports work); ``hw/`` itself is never touched.
"""

from __future__ import annotations

import importlib
import inspect
import types

__all__ = ["MUTANTS", "mutant_class"]

# name: (module, class, original text, faulty text, what it breaks)
MUTANTS = {
    "queue_ready_ignores_inflight": ("openeie.hw.queue", "ActivationQueue",
                                     "not_full.eq(Mux(up, level != depth - 1, down | (level != depth)))",
                                     "not_full.eq(down | (level != depth))",
                                     "not-full ignores the push in flight: a full queue accepts a pair"),
    "queue_ready_from_fifo": ("openeie.hw.queue", "ActivationQueue", "self.i.ready.eq(not_full)",
                              "self.i.ready.eq(queue.w_rdy)", "ready from the FIFO alone: drops a word when full"),
    "queue_counts_no_pops": ("openeie.hw.queue", "ActivationQueue", "level.eq(Mux(up, level + 1, Mux(down, level - 1, level)))",
                             "level.eq(Mux(self.reserve, level + 1, level))", "level forgets pops"),
    "queue_room_ignores_pop": ("openeie.hw.queue", "ActivationQueue", "self.room1.eq(Mux(pop, not_full, two_free))",
                               "self.room1.eq(two_free)",
                               "room after a push ignores this cycle's pop: the broadcaster stalls a cycle late"),
    "queue_room_after_push": ("openeie.hw.queue", "ActivationQueue",
                              "two_free.eq(Mux(up, level < depth - 2, Mux(down, level != depth, level < depth - 1)))",
                              "two_free.eq(Mux(up, level < depth - 1, Mux(down, level != depth, level < depth - 1)))",
                              "room after a push off by one: a full queue takes a pair"),
    "pointer_even_addr": ("openeie.hw.pointer", "PointerReadUnit", "even.addr.eq((index + 1) >> 1)",
                          "even.addr.eq(index >> 1)", "even bank read at index//2: wrong end of odd columns"),
    "pointer_end_bank": ("openeie.hw.pointer", "PointerReadUnit", "q.end.eq(Mux(p_odd, even.data, odd.data))",
                         "q.end.eq(Mux(p_odd, odd.data, odd.data))", "end always from the odd bank"),
    "pointer_overwrites_p": ("openeie.hw.pointer", "PointerReadUnit", "self.i.ready.eq(~p_valid | q_ready)",
                             "self.i.ready.eq(1)", "pops while P is blocked: a column is lost"),
    "lnzd_highest": ("openeie.hw.broadcast", "LeadingNonZero",
                     "Mux(lo_valid, Cat(lo_index, C(0, 1)), Cat(hi_index, C(1, 1)))",
                     "Mux(hi_valid, Cat(hi_index, C(1, 1)), Cat(lo_index, C(0, 1)))", "picks the highest lane"),
    "arith_no_bypass1": ("openeie.hw.arith", "ArithmeticUnit", "match1.eq(m_real & (m_row == p_row))",
                         "match1.eq(0)", "no forwarding of the write just before"),
    "arith_no_bypass2": ("openeie.hw.arith", "ArithmeticUnit", "match2.eq(w1_ok & (w1_row == p_row))",
                         "match2.eq(0)", "no forwarding of the write two cycles before"),
    "arith_bypass_late": ("openeie.hw.arith", "ArithmeticUnit", "w2_value.eq(w1_value)", "w2_value.eq(acc_new)",
                          "second bypass value off by one cycle"),
}


def mutant_class(name: str):
    module_name, cls_name, old, new, _ = MUTANTS[name]
    original = importlib.import_module(module_name)
    source = inspect.getsource(original)
    if source.count(old) != 1:
        raise ValueError(f"mutant {name!r}: {old!r} occurs {source.count(old)} times in {module_name}")
    module = types.ModuleType(f"{module_name}_mutant_{name}")
    module.__package__ = original.__package__
    module.__file__ = original.__file__
    exec(compile(source.replace(old, new), f"<mutant {name}>", "exec"), module.__dict__)
    return getattr(module, cls_name)

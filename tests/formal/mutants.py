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
    "queue_pending_counts_inflight": ("openeie.hw.queue", "ActivationQueue", "self.pending.eq(queue.r_rdy)",
                                      "self.pending.eq(queue.r_rdy | self.i.valid)",
                                      "pending counts the pair in flight, which the engine counts already"),
    "queue_ready_always": ("openeie.hw.queue", "ActivationQueue", "self.i.ready.eq(queue.w_rdy)",
                           "self.i.ready.eq(1)", "ready when the FIFO is full"),
    "queue_writes_without_valid": ("openeie.hw.queue", "ActivationQueue", "queue.w_en.eq(self.i.valid)",
                                   "queue.w_en.eq(1)", "writes a word every cycle"),
    "credit_room_ignores_push": ("openeie.hw.queue", "QueueCredit",
                                 "room.eq(Mux(up, count != depth - 1, down | (count != depth)))",
                                 "room.eq(down | (count != depth))",
                                 "room ignores this cycle's push: a full queue takes a pair"),
    "credit_counts_no_pops": ("openeie.hw.queue", "QueueCredit",
                              "count.eq(Mux(up, count + 1, Mux(down, count - 1, count)))",
                              "count.eq(Mux(up, count + 1, count))", "the count forgets pops"),
    "credit_pop_at_once": ("openeie.hw.queue", "QueueCredit", "up, down = self.push & ~seen, seen & ~self.push",
                           "up, down = self.push & ~self.pop, self.pop & ~self.push",
                           "a pop counted a cycle early: the cycle contract's broadcaster pushes earlier"),
    "credit_room_late_after_pop": ("openeie.hw.queue", "QueueCredit",
                                   "room.eq(Mux(up, count != depth - 1, down | (count != depth)))",
                                   "room.eq(Mux(up, count != depth - 1, count != depth))",
                                   "room after a pop at full seen a cycle late"),
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

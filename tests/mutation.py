"""Mutation check of the RTL: inject faults into the engine's Amaranth source and show the test suite kills them.

Each mutant replaces one exact piece of one ``hw/*.py`` file (the checkout is never written: a child process
imports the mutated module in place of the original through an import hook, then runs the default suite's
compiled-harness tests, ``tests/test_harness.py``, with ``-x``, on the smaller engines first). A mutant is
*killed* when that run fails; a run that exceeds ``--timeout`` seconds counts as killed by a hang and is
reported separately. Harness builds of mutants go to a temporary directory (``OPENEIE_HARNESS_BUILD``).

Usage::

    .venv/bin/python tests/mutation.py [--only NAME ...] [--jobs 2] [--timeout 900] [--list]

Prints one line per mutant and ``K of K mutants killed``; exits 1 if any mutant survived.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: (name, hw module, exact original text, replacement): each original occurs exactly once in its file.
MUTANTS = [
    ("credit_room_ignores_push", "queue", "room.eq(Mux(up, count != depth - 1, down | (count != depth)))",
     "room.eq(down | (count != depth))"),
    ("credit_misses_pop", "queue", "count.eq(Mux(up, count + 1, Mux(down, count - 1, count)))",
     "count.eq(Mux(up, count + 1, count))"),
    ("credit_pop_at_once", "queue", "up, down = self.push & ~seen, seen & ~self.push",
     "up, down = self.push & ~self.pop, self.pop & ~self.push"),
    ("queue_pending_never", "queue", "self.pending.eq(queue.r_rdy)", "self.pending.eq(0)"),
    ("idle_ignores_pair_in_flight", "engine", "ctrl.compute_idle.eq(bcast.finished & ~bc_valid & Cat(",
     "ctrl.compute_idle.eq(bcast.finished & Cat("),
    ("ptr_even_bank_address", "pointer", "even.addr.eq((index + 1) >> 1)", "even.addr.eq(index >> 1)"),
    ("ptr_swapped_bank", "pointer", "q.end.eq(Mux(p_odd, even.data, odd.data))",
     "q.end.eq(Mux(p_odd, odd.data, even.data))"),
    ("ptr_busy_drops_p", "pointer", "self.busy.eq(p_valid | q_valid)", "self.busy.eq(q_valid)"),
    ("ptr_dropped_stall", "pointer", "self.i.ready.eq(~p_valid | q_ready)", "self.i.ready.eq(q_ready)"),
    ("bypass_no_match1", "arith", "match1.eq(m_real & (m_row == p_row))", "match1.eq(0)"),
    ("bypass_no_match2", "arith", "match2.eq(w1_ok & (w1_row == p_row))", "match2.eq(0)"),
    ("bypass_off_by_one", "arith", "w2_value.eq(w1_value)", "w2_value.eq(acc_new)"),
    ("rel_index_off_by_one", "arith", "m.d.sync += row_base.eq(row + 1)", "m.d.sync += row_base.eq(row)"),
    ("acc_write_counter_misses_clamp", "arith", "self.acc_write.eq(m_real)", "self.acc_write.eq(m_real & ~clamped)"),
    ("filler_counter_never", "arith", "self.filler.eq(e_valid & (e.entry.code == 0))", "self.filler.eq(0)"),
    ("saturation_counts_fillers", "arith", "self.saturated.eq(m_real & clamped)",
     "self.saturated.eq(e_valid & clamped)"),
    ("spmat_last_slice_stall", "spmat", "self.i.ready.eq(~held | ~more | one_left)",
     "self.i.ready.eq(~held | ~more)"),
    ("spmat_reread_every_entry", "spmat", "rd.en.eq(issue & fresh)",
     "rd.en.eq(issue)"),
    ("spmat_lane_wrap_early", "spmat", "with m.If(lane == epw - 1):", "with m.If(lane == epw - 2):"),
    ("lnzd_highest_lane", "broadcast", "index.eq(Mux(lo_valid, Cat(lo_index, C(0, 1)), Cat(hi_index, C(1, 1))))",
     "index.eq(Mux(hi_valid, Cat(hi_index, C(1, 1)), Cat(lo_index, C(0, 1))))"),
    ("bcast_count_misses_take", "broadcast", "m.d.sync += n_count.eq(n_count + n_push - h_take)",
     "m.d.sync += n_count.eq(n_count + n_push)"),
    ("wb_bias_not_shifted", "writeback", "acc_init = (ctl.phase == Phase.INIT) & reading, rd.data << cfg.weight_frac_bits",
     "acc_init = (ctl.phase == Phase.INIT) & reading, rd.data"),
    ("wb_init_skips_first_slot", "writeback", "self.acc_wr.en.eq((ctl.phase == Phase.INIT) & (step != 0))",
     "self.acc_wr.en.eq((ctl.phase == Phase.INIT) & (step > 1))"),
    ("rounding_half_dropped", "writeback", "m.d.comb += half.eq((C(1, len(product)) << shift) >> 1)",
     "m.d.comb += half.eq(0)"),
]

#: The harness tests in the order they run under a mutant: the quickest builds first.
TESTS = ["h_pe3_f1_c3_r7", "h_pe8_f12_c7_r6", "h_pe12_f4_c4_r4_rq", "h_pe5_f7_c8_r8", "h_pe16_f16_c2_r3",
         "h_pe32_f5_c5_r5", "h_pe64_f2_c6_r2"]

_CHILD = r'''
import importlib.abc, importlib.util, sys
name, path, old, new = sys.argv[1:5]
source = open(path).read()
if source.count(old) != 1:
    sys.exit(f"mutant: {old!r} occurs {source.count(old)} times in {path}: expected once")
mutated = source.replace(old, new)

class Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(compile(mutated, path, "exec"), module.__dict__)

class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, target_path=None, target=None):
        if fullname == name:
            return importlib.util.spec_from_file_location(fullname, path, loader=Loader())
        return None

sys.meta_path.insert(0, Finder())
import pytest
sys.exit(pytest.main(sys.argv[5:]))
'''


def _check_mutants() -> None:
    for name, module, old, _new in MUTANTS:
        count = (REPO / "hw" / f"{module}.py").read_text().count(old)
        if count != 1:
            raise SystemExit(f"mutant {name}: its text occurs {count} times in hw/{module}.py: expected once")


def run_mutant(mutant, build_root: Path, timeout: float) -> tuple:
    """Run the harness tests under one mutant: ``(name, verdict, seconds, last line of the pytest output)``."""
    name, module, old, new = mutant
    tests = [f"tests/test_harness.py::test_engine_on_harness[{c}]" for c in TESTS]
    cmd = [sys.executable, "-c", _CHILD, f"openeie.hw.{module}", str(REPO / "hw" / f"{module}.py"), old, new,
           "-x", "-q", "-p", "no:cacheprovider", *tests]
    env = {**__import__("os").environ, "OPENEIE_HARNESS_BUILD": str(build_root / name)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return name, "killed (hang)", time.perf_counter() - t0, f"no result in {timeout:g} s"
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    verdict = "killed" if proc.returncode == 1 else "SURVIVED" if proc.returncode == 0 else f"error {proc.returncode}"
    detail = next((ln for ln in lines if ln.startswith("FAILED")), lines[-1] if lines else proc.stderr[-300:])
    return name, verdict, time.perf_counter() - t0, detail[:200]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="mutant names (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant before it counts as a hang")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    _check_mutants()
    names = [m[0] for m in MUTANTS]
    if args.list:
        print("\n".join(f"{n}: hw/{m}.py" for n, m, _, _ in MUTANTS))
        return 0
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        raise SystemExit(f"unknown mutant(s) {unknown}: expected some of {names}")
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only]
    with tempfile.TemporaryDirectory(prefix="openeie-mutants-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        results = []
        for name, verdict, seconds, detail in pool.map(lambda m: run_mutant(m, Path(tmp), args.timeout), chosen):
            print(f"{name:34s} {verdict:14s} {seconds:6.1f} s  {detail}", flush=True)
            results.append(verdict)
    killed = sum(v.startswith("killed") for v in results)
    print(f"{killed} of {len(results)} mutants killed")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

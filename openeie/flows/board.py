"""Compiled networks on a board (``openeie run``): load the images once over the host link, run every input,
read outputs and counters, and hold each run to the golden model (outputs, value for value) and the cycle model
(cycles and every counter). The board is a serial port (:class:`openeie.fpga.host.SerialTransport`), any
:class:`~openeie.fpga.host.Transport`, or the Verilated board (:func:`openeie.testbench.simlink.simulate_runs`:
UART + command decoder + engine driven through its UART pins by the same host driver)."""

from __future__ import annotations

import time

import numpy as np

from openeie.errors import OpenEIEError

__all__ = ["BoardMismatchError", "board_runs", "compare_runs", "require_board_agreement"]


class BoardMismatchError(OpenEIEError):
    """The board disagreed with the golden or the cycle model (reported as one line after the report that records
    it is written)."""


def board_runs(program, x_q, *, board: str, port: str | None = None, baud: int | None = None, transport=None,
               simulate: bool = False, build_root=None, timeout_s: float = 5.0, run_timeout_s: float = 60.0,
               hello_attempts: int = 1) -> dict:
    """Run every row of ``x_q`` on a board built for ``program.config`` and compare it with the models.

    Parameters
    ----------
    program : openeie.program.Program
        Compiled for the configuration of the board's bitstream.
    x_q : numpy.ndarray
        Logical fixed-point inputs, ``(n_in,)`` or ``(batch, n_in)``.
    board : str
        The board (:data:`openeie.fpga.boards.BOARDS`): its device's memory mapping for ``simulate``, its name in
        the report and the messages.
    port : str, optional
        Serial port of the board (opened with pyserial at ``baud``, default 115200 baud).
    transport : openeie.fpga.host.Transport, optional
        An open byte pipe to the board instead of ``port`` (closed by the caller).
    simulate : bool
        Run on the Verilated board instead (``port``, ``baud`` and ``transport`` unused).
    build_root : path, optional
        Build directory of the Verilated board (:func:`openeie.testbench.simlink.build_sim`'s default).
    timeout_s, run_timeout_s : float
        How long the host waits for a response, and for a run to finish (s).
    hello_attempts : int
        HELLOs sent while the board stays silent (3 after programming: the FPGA may still be configuring).

    Returns
    -------
    dict
        JSON-ready: ``board``, ``link`` (the port, or ``"simulated"``), ``baud``, ``config``, ``inputs``,
        ``load_words`` (memory words loaded, once), ``wall_s`` (s, loading included), ``runs`` (per input:
        ``outputs_fixed``, ``outputs`` (real), ``predicted`` (with two or more outputs), ``cycles``, ``stats``
        (every counter) and ``golden_equal``, ``cycle_equal``) and :func:`compare_runs`'s ``agree``,
        ``disagreeing``, ``mismatches``.

    Raises
    ------
    openeie.fpga.host.LinkError
        The port cannot be opened or the board does not answer as the protocol says (the message says how to
        program the board).
    """
    from openeie.fpga.host import LinkError
    from openeie.fpga.protocol import DEFAULT_BAUD
    x_q = np.atleast_2d(np.asarray(x_q, dtype=np.int64))
    baud = baud or DEFAULT_BAUD
    t0 = time.perf_counter()
    if simulate:
        from openeie.fpga.boards import get_board
        from openeie.testbench.simlink import simulate_runs
        runs = simulate_runs(program, list(x_q), device=get_board(board).device, build_root=build_root)
        link = "simulated"
    else:
        own = transport is None
        if own:
            from openeie.errors import InputError
            from openeie.fpga.host import SerialTransport
            if not port:
                raise InputError("give a serial port (port=...), a transport, or simulate=True")
            try:
                transport = SerialTransport(port, baud)
            except LinkError as e:
                raise LinkError(f"{e}; is the {board} plugged in and this its UART? (openeie run --board {board} "
                                f"--flash-help for the ports and steps)") from None
        try:
            runs = _serial_runs(program, x_q, transport, timeout_s, run_timeout_s, hello_attempts)
        except LinkError as e:
            raise LinkError(f"{e}; is the {board} programmed with the bitstream of this configuration? (openeie "
                            f"run --board {board} --program ..., or --flash-help for the steps)") from None
        finally:
            if own:
                transport.close()
        link = port if own else "transport"
    wall = time.perf_counter() - t0
    cfg = program.config
    scale = float(1 << cfg.act_frac_bits)
    out = {"board": board, "link": link, "baud": None if simulate else baud, "config": cfg.to_dict(),
           "inputs": len(x_q), "load_words": sum(1 for _ in program.load_words()), "wall_s": wall, "runs": []}
    for outputs, stats in runs:
        outputs = np.asarray(outputs, dtype=np.int64)
        row = {"outputs_fixed": outputs.tolist(), "outputs": (outputs / scale).tolist(), "cycles": stats.cycles,
               "stats": stats.as_dict()}
        if program.n_out >= 2:
            row["predicted"] = int(np.argmax(outputs))
        out["runs"].append(row)
    out.update(compare_runs(program, x_q, runs, out["runs"]))
    return out


def _serial_runs(program, x_q, transport, timeout_s, run_timeout_s, hello_attempts=1):
    """HELLO, the images loaded once, then every input: ``[(outputs, stats)]``."""
    from openeie.fpga.host import BoardLink
    link = BoardLink(transport, program.config, timeout_s=timeout_s, run_timeout_s=run_timeout_s)
    link.hello(hello_attempts)
    link.load_program(program)
    return [link.infer(program, x) for x in x_q]


def compare_runs(program, x_q, runs, rows=None) -> dict:
    """Hold every board run to the models: outputs equal to :func:`openeie.sim.golden.run_logical`'s, cycles and
    every counter equal to :func:`openeie.sim.cycle.run`'s.

    Parameters
    ----------
    program : openeie.program.Program
    x_q : numpy.ndarray
        The inputs, ``(batch, n_in)`` fixed point.
    runs : list of (outputs, Stats)
        What the board returned, one per input.
    rows : list of dict, optional
        Per-input report rows: ``golden_equal`` and ``cycle_equal`` are set in them.

    Returns
    -------
    dict
        ``golden_equal`` and ``cycle_equal`` (counts of inputs), ``agree`` (every input both), ``disagreeing``
        (count), ``mismatches`` (the first five, one sentence each: the input, the first output or counter that
        differs, both values).
    """
    from openeie.sim import cycle, golden
    mismatches, counts = [], {"golden_equal": 0, "cycle_equal": 0}
    for i, (x, (outputs, stats)) in enumerate(zip(x_q, runs)):
        want = golden.run_logical(program, x)
        outputs = np.asarray(outputs, dtype=np.int64)
        model = cycle.run(program, x)[1].as_dict()
        got = stats.as_dict()
        golden_ok = outputs.shape == want.shape and np.array_equal(outputs, want)
        cycle_ok = got == model
        counts["golden_equal"] += golden_ok
        counts["cycle_equal"] += cycle_ok
        if rows is not None:
            rows[i].update(golden_equal=bool(golden_ok), cycle_equal=bool(cycle_ok))
        if not golden_ok:
            k = (int(np.flatnonzero(outputs != want)[0]) if outputs.shape == want.shape else None)
            what = (f"output {k} is {outputs[k]} on the board, {want[k]} in the golden model" if k is not None else
                    f"{outputs.size} outputs on the board, {want.size} in the golden model")
            mismatches.append(f"input {i}: {what} (fixed point)")
        elif not cycle_ok:
            name, a, b = _first_counter_difference(got, model)
            mismatches.append(f"input {i}: {name} is {a} on the board, {b} in the cycle model")
    return {**counts, "agree": not mismatches, "disagreeing": len(mismatches), "mismatches": mismatches[:5]}


def _first_counter_difference(got: dict, model: dict):
    for name, want in model.items():
        have = got.get(name)
        if isinstance(want, list):
            for j, (u, v) in enumerate(zip(have or [], want)):
                if u != v:
                    return f"{name}[{j}]", u, v
            if len(have or []) != len(want):
                return f"{name} (length)", len(have or []), len(want)
        elif have != want:
            return name, have, want
    return "?", None, None


def require_board_agreement(result: dict, record: str) -> None:
    """Raise :class:`BoardMismatchError` when :func:`board_runs`'s ``result`` found a disagreement; ``record``
    names what records it (the JSON report or the table above)."""
    if not result["agree"]:
        n = result["inputs"]
        raise BoardMismatchError(f"the {result['board']} ({result['link']}) disagreed with the models on "
                                 f"{result['disagreeing']} of {n} inputs (outputs {result['golden_equal']}/{n} equal "
                                 f"to the golden model, cycles and counters {result['cycle_equal']}/{n} to the cycle "
                                 f"model); first: {result['mismatches'][0]}; {record} records it")

"""Sweep of the PE count against utilisation and Fmax on one device (board-less estimates).

Every point is :func:`openeie.fpga.synth.estimate` of the base configuration with ``n_pe`` replaced. Points run
one after the other (each is a heavy single job). Once a PE count does not fit, larger ones are not tried; a
point on which a tool fails for another reason is recorded with its error (``fits`` None) and the sweep goes on.
"""

from __future__ import annotations

import json
from pathlib import Path

from openeie.config import EngineConfig

from .boards import get_device
from .synth import DoesNotFit, estimate
from .tools import ToolError

__all__ = ["sweep_pes", "largest_fit"]


def largest_fit(points: list) -> dict | None:
    """The point with the most PEs that fits the device."""
    fits = [p for p in points if p["fits"]]
    return max(fits, key=lambda p: p["n_pe"]) if fits else None


def _reuse(path: Path, cfg: EngineConfig, seed: int):
    """A point's earlier result, if it was made for the same configuration and seed."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return old if old.get("config") == cfg.to_dict() and old.get("seed") == seed else None


def sweep_pes(base: EngineConfig, device, out_dir, pes=(1, 2, 4, 8), *, freq_mhz: float | None = None,
              seed: int = 1, stop_when_full: bool = True, route_timeout_s: float | None = None, reuse: bool = True,
              progress=None) -> dict:
    """Estimate ``base`` with each PE count in ``pes`` on ``device``; write ``sweep.json``
    to ``out_dir`` (each point's files under ``out_dir/pe<N>``) and return the sweep. With ``reuse``, a point
    whose ``result.json`` is already there for the same configuration and seed is not run again.

    Returns
    -------
    dict
        ``device``, ``base_config``, ``points`` (per PE count: ``n_pe``, ``fits`` (None when a tool failed), and
        ``fmax_mhz``,
        ``timing_met``, ``utilization`` or ``error``), ``largest_fit`` (a point or None), ``family``.
    """
    device = get_device(device) if isinstance(device, str) else device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points = []
    for n_pe in sorted(set(pes)):
        if stop_when_full and points and points[-1]["fits"] is False:
            points.append({"n_pe": n_pe, "fits": False, "error": f"not tried: {points[-1]['n_pe']} PEs already "
                                                                  f"do not fit"})
            continue
        cfg = base.replace(n_pe=n_pe)
        if progress:
            progress(f"{device.name}: {n_pe} PEs ...")
        try:
            r = (reuse and _reuse(out / f"pe{n_pe}" / "result.json", cfg, seed)) or estimate(
                cfg, device, out / f"pe{n_pe}", freq_mhz=freq_mhz, seed=seed, route_timeout_s=route_timeout_s)
            points.append({"n_pe": n_pe, "fits": True, "fmax_mhz": r["fmax_mhz"], "target_mhz": r["target_mhz"],
                           "timing_met": r["timing_met"], "routed": r.get("routed", True),
                           "utilization": r["utilization"], "critical_path": r.get("critical_path"),
                           "seconds": r["seconds"]})
        except DoesNotFit as e:
            points.append({"n_pe": n_pe, "fits": False, "error": str(e)})
        except ToolError as e:                      # a tool failed: not a statement about the size
            points.append({"n_pe": n_pe, "fits": None, "error": str(e)})
        if progress:
            p = points[-1]
            note = "" if p.get("routed", True) else " (post-placement estimate)"
            progress(f"  {p['fmax_mhz']} MHz{note}" if p["fits"] else f"  {p['error']}")
    result = {"device": device.name, "part": device.part, "family": device.family, "base_config": base.to_dict(),
              "points": points, "largest_fit": largest_fit(points)}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    return result

"""Sweep of the PE count against utilisation and Fmax on one device (board-less estimates), with a plot.

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

__all__ = ["sweep_pes", "plot_sweep", "largest_fit"]

# The utilisation series plotted per family (nextpnr bel names) and their labels.
_SERIES = {
    "ice40": {"ICESTORM_LC": "logic cells", "ICESTORM_RAM": "EBR", "ICESTORM_SPRAM": "SPRAM", "ICESTORM_DSP": "DSP"},
    "ecp5": {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "FF", "DP16KD": "block RAM", "MULT18X18D": "multipliers"},
}


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
    """Estimate ``base`` with each PE count in ``pes`` on ``device``; write ``sweep.json`` and ``sweep.png``
    to ``out_dir`` (each point's files under ``out_dir/pe<N>``) and return the sweep. With ``reuse``, a point
    whose ``result.json`` is already there for the same configuration and seed is not run again.

    Returns
    -------
    dict
        ``device``, ``base_config``, ``points`` (per PE count: ``n_pe``, ``fits`` (None when a tool failed), and
        ``fmax_mhz``,
        ``timing_met``, ``utilization`` or ``error``), ``largest_fit`` (a point or None), ``plot``.
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
    result = {"device": device.name, "part": device.part, "base_config": base.to_dict(), "points": points,
              "largest_fit": largest_fit(points), "plot": str(out / "sweep.png")}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_sweep(result, out / "sweep.png")
    return result


def plot_sweep(result: dict, path) -> Path:
    """Utilisation (percent per resource) and Fmax against the PE count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = get_device(result["device"]).family
    fits = [p for p in result["points"] if p["fits"]]
    fig, (ax_u, ax_f) = plt.subplots(1, 2, figsize=(10, 4))
    for bel, label in _SERIES[family].items():
        xs = [p["n_pe"] for p in fits if bel in p["utilization"]]
        ys = [p["utilization"][bel]["percent"] for p in fits if bel in p["utilization"]]
        if xs:
            ax_u.plot(xs, ys, marker="o", label=label)
    ax_u.axhline(100, color="grey", linestyle=":")
    ax_u.set(xlabel="PEs", ylabel="utilisation (%)", title=f"{result['part']}: resources")
    if ax_u.get_legend_handles_labels()[0]:
        ax_u.legend()
    ax_f.plot([p["n_pe"] for p in fits], [p["fmax_mhz"] for p in fits], marker="o", label="Fmax (nextpnr)")
    unrouted = [p for p in fits if not p.get("routed", True)]
    if unrouted:
        ax_f.plot([p["n_pe"] for p in unrouted], [p["fmax_mhz"] for p in unrouted], "o", mfc="white",
                  color="C0", label="post-placement estimate")
    if fits:
        ax_f.axhline(fits[0]["target_mhz"], color="grey", linestyle=":", label="target")
    ax_f.set(xlabel="PEs", ylabel="MHz", title=f"{result['part']}: Fmax")
    ax_f.legend()
    ticks = sorted({p["n_pe"] for p in result["points"]})
    for ax in (ax_u, ax_f):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    ax_f.set_ylim(bottom=0)
    misses = [p["n_pe"] for p in result["points"] if p["fits"] is False]
    if misses:
        fig.text(0.5, 0.01, f"does not fit: {', '.join(map(str, misses))} PEs", ha="center")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)

"""``openeie config show [--preset P] [--config CFG.json] [--json [PATH]] [-o CFG.json]``: the presets, and the
effective engine configuration a command would use (fields, derived quantities, the SRAMs the energy model prices)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run", "show", "energy_srams", "SHOW_FORMAT"]

#: ``format`` tag of ``openeie config show --json``.
SHOW_FORMAT = "openeie-config-show"

_EXAMPLES = """\
examples:
  openeie config show                                   # the presets and the engine defaults
  openeie config show --preset icebreaker               # what 'openeie synth --board icebreaker' builds
  openeie config show --preset up5k --config mine.json  # mine.json over the up5k preset, as synth reads it
  openeie config show --preset up5k -o up5k.json        # save it as a configuration file for --config
"""


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "config", help="show the presets and the effective engine configuration",
        description="Engine configurations: 'config show' lists the board and device presets and prints the "
                    "effective configuration (every field and where its value comes from, the derived quantities, "
                    "and the per-PE SRAMs the energy model prices) of --preset (default: the engine defaults) with "
                    "--config laid over it, as every command's --config is: the fields the file gives replace the "
                    "base's, the others are kept, entries_per_word (and ptr_depth, max_kernel, max_pool) are "
                    "derived from what the file gives, and derived quantities the file gives are checked.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    s = sub.add_parser("show", help="print the presets and the effective configuration",
                       description="Print the presets (without --preset) and the effective configuration of "
                                   "--preset with --config over it, as Markdown tables (or JSON with --json).",
                       epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--preset", metavar="NAME", help="a board (icebreaker, ulx3s-85f, orangecrab-85f) or device "
                                                    "(up5k, 25k, 85k) preset (default: the engine defaults)")
    s.add_argument("--config", metavar="CFG.json", help="engine configuration JSON laid over the preset")
    s.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="print JSON instead of Markdown (to PATH when given)")
    s.add_argument("-o", "--output", metavar="CFG.json",
                   help="also write the effective configuration as an engine configuration file")
    p.set_defaults(run=run)


def energy_srams(cfg) -> dict:
    """The SRAM arrays the energy model prices for ``cfg``, per PE: component -> ``{"size_bytes", "width_bits"}``.

    Read from the energy model's own per-access pricing (:mod:`openeie.sim.energy`), so the sizes are the ones it
    assumes, never a second derivation of them.
    """
    from openeie.sim.energy import sram_sizes
    return {name: {"size_bytes": size, "width_bits": width} for name, (size, width) in sram_sizes(cfg).items()}


def _derived(cfg) -> dict:
    from openeie.config import DERIVED_FIELDS
    return {name: getattr(cfg, name) for name in (*DERIVED_FIELDS, "conv", "requant")}


def show(preset: str | None = None, config_path=None) -> dict:
    """The ``config show`` report: the presets, and the effective configuration of ``preset`` (a board or device
    preset name; None: the engine defaults) with the file ``config_path`` laid over it."""
    import dataclasses
    from openeie.config import EngineConfig, overlay_what, read_overlay, resolve_overlay
    from openeie.fpga.presets import BOARD_PRESETS, PRESETS, named_preset
    from .arguments import base_description
    if preset is None:
        kind, base = None, EngineConfig()
    else:
        kind, base = named_preset(preset)
    base_label = "preset" if preset else "default"
    if config_path:
        what = overlay_what(config_path, base_description(base))
        over = resolve_overlay(base, read_overlay(config_path), what)
    else:
        over = resolve_overlay(base, {})
    cfg = over.config
    return {
        "format": SHOW_FORMAT, "preset": preset, "preset_kind": kind, "config_file": str(config_path or "") or None,
        "base": base_description(base),
        "config": dataclasses.asdict(cfg),
        "sources": {name: over.source(name, base_label) for name in dataclasses.asdict(cfg)},
        "derived": _derived(cfg), "checked": list(over.checked),
        "energy_srams": energy_srams(cfg),
        "presets": {name: {"kind": kind_, "config": dataclasses.asdict(c), "derived": _derived(c)}
                    for kind_, table in (("board", BOARD_PRESETS), ("device", PRESETS)) for name, c in table.items()},
    }


def _number(x: float):
    """``x`` as an int when it is whole (sizes in bytes of odd-width arrays are not)."""
    return int(x) if float(x).is_integer() else round(x, 3)


def _table(header: list, rows: list) -> list:
    align = ["---:" if rows and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows)
             else "---" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + [
        "| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def markdown(result: dict) -> str:
    """``config show``'s report as Markdown tables."""
    from openeie.config import CONFIG_RANGES, EngineConfig
    lines = []
    if result["preset"] is None:
        lines += ["# Presets", ""]
        lines += _table(["preset", "kind", "PEs", "w / a / acc bits", "code + rel bits", "entries / word", "word bits",
                         "spmat words", "ptr depth", "act depth", "bias depth", "layers"],
                        [[name, p["kind"], c["n_pe"], f"{c['weight_bits']} / {c['act_bits']} / {c['acc_bits']}",
                          f"{c['code_bits']} + {c['rel_index_bits']}", c["entries_per_word"],
                          p["derived"]["spmat_word_bits"], c["spmat_depth_words"], c["ptr_depth"], c["act_depth"],
                          c["bias_depth"], c["max_layers"]] for name, p in result["presets"].items()
                         for c in [p["config"]]])
        lines += [""]
    title = result["base"] + (f" with {result['config_file']} over it" if result["config_file"] else "")
    lines += [f"# Effective configuration: {title}", ""]
    lines += _table(["field", "value", "from", "range"],
                    [[k, v, result["sources"][k], "..".join(map(str, CONFIG_RANGES[k])) if k in CONFIG_RANGES else ""]
                     for k, v in result["config"].items()])
    lines += ["", "## Derived", ""]
    lines += _table(["quantity", "value", "meaning"],
                    [[k, v, getattr(EngineConfig, k).__doc__.split("\n")[0]] for k, v in result["derived"].items()])
    lines += ["", "## SRAMs the energy model prices (per PE, sim/energy.py)", ""]
    lines += _table(["memory", "bytes", "width bits", "words"],
                    [[k, _number(m["size_bytes"]), m["width_bits"], _number(8 * m["size_bytes"] / m["width_bits"])]
                     for k, m in result["energy_srams"].items()])
    return "\n".join(lines) + "\n"


def run(args) -> None:
    import json
    import os
    from openeie.errors import InputError
    from openeie.files import check_output_file, write_text
    to_file = args.json not in (None, "-")
    if args.output:
        check_output_file(args.output, "engine configuration", inputs=[args.config])
    if to_file:
        check_output_file(args.json, "JSON report", inputs=[args.config])
        if args.output and os.path.abspath(args.json) == os.path.abspath(args.output):
            raise InputError(f"--json and -o both name {args.json!r}: expected different files")
    result = show(args.preset, args.config)
    text = json.dumps(result, indent=2) + "\n" if args.json else markdown(result)
    if args.output:
        from openeie.config import EngineConfig
        EngineConfig(**result["config"]).save(args.output)
    if to_file:
        write_text(args.json, text, "JSON report")
    else:
        print(text, end="")

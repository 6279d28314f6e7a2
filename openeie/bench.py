"""Benchmarks that print their figures (speed targets live here, not in timed unit tests)."""

from __future__ import annotations

import time

__all__ = ["bench_compile"]


def bench_compile(seed: int = 0, repeats: int = 3, n_in: int = 25088, n_out: int = 4096, density: float = 0.04,
                  printer=print) -> dict:
    """Encode throughput of :func:`openeie.compiler.lower.lower` on a VGG-6-sized layer (25088 x 4096 at 4 %
    density, seeded) with EIE's formats on 64 PEs. Reports dense weights per second (the figure the target
    refers to) and non-zeros per second; the best of ``repeats`` runs."""
    from .benchmarks import random_layer
    from .compiler.lower import lower
    from .config import EngineConfig
    cfg = EngineConfig(n_pe=64, spmat_depth_words=16384, ptr_depth=65536, act_depth=512)
    layer = random_layer(n_in, n_out, density, cfg.code_bits, seed=seed, name="VGG-6")
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        program = lower([layer], cfg)
        times.append(time.perf_counter() - t0)
    best = min(times)
    dense = n_in * n_out
    result = {"layer": "VGG-6", "shape": [n_out, n_in], "density": density, "nnz": layer.nnz,
              "fillers": program.layers[0].n_fillers, "seconds": best, "seconds_all": times,
              "weights_per_s": dense / best, "nnz_per_s": layer.nnz / best, "target_weights_per_s": 10e6}
    printer(f"encode VGG-6 ({n_out}x{n_in}, {density:.0%} dense, {layer.nnz} non-zeros, "
            f"{result['fillers']} fillers) on {cfg.n_pe} PEs: best of {len(times)} = {best:.3f} s")
    printer(f"  {result['weights_per_s'] / 1e6:.1f} M weights/s (target >= 10 M weights/s: "
            f"{'met' if result['weights_per_s'] >= 10e6 else 'NOT met'}), {result['nnz_per_s'] / 1e6:.2f} M non-zeros/s")
    return result

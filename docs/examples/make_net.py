"""Write net.npz: a two-layer network (16 -> 32 -> 10) in OpenEIE's network-file schema, 30 % of its weights kept."""
import numpy as np

rng = np.random.default_rng(0)
codebook = np.concatenate([[0.0], np.linspace(-1, 1, 15)])       # 16 shared weights; entry 0 is the pruned one
codes0 = rng.integers(1, 16, (32, 16)) * (rng.random((32, 16)) < 0.3)
codes1 = rng.integers(1, 16, (10, 32)) * (rng.random((10, 32)) < 0.3)
np.savez("net.npz", **{
    "layer0.codebook": codebook, "layer0.codes": codes0, "layer0.bias": np.zeros(32), "layer0.relu": 1,
    "layer1.codebook": codebook, "layer1.codes": codes1,
})

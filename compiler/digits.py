"""A bundled real model: LeNet-300-100's shape on scikit-learn's 8x8 handwritten digits (no download).

``load_digits`` ships inside scikit-learn (1797 images of 8x8 pixels with values 0..16, 10 classes). The split
is fixed (stratified 70/30, seed 0), inputs are scaled to [0, 1] (pixel / 16). The MLP 64-300-100-10 (ReLU after
the two hidden layers) trains deterministically (seeded init and shuffling, one intra-op thread) in a few
seconds on a laptop CPU. Trained float weights are cached as safetensors (never pickles) under a name that
hashes every training setting, so a changed setting never loads stale weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from openeie.errors import InputError

from .frontend import FrontendError, load_into
from .prune import accuracy, single_thread, train_epochs

__all__ = ["DIGITS_SHAPE", "DIGITS_RECIPE", "numerics", "load_digits_split", "digits_mlp", "train_digits_mlp",
           "compress_digits", "single_thread"]

DIGITS_SHAPE = (64, 300, 100, 10)
"""Layer widths of the bundled MLP (inputs, hidden 1, hidden 2, classes)."""

DIGITS_RECIPE = {
    "density": {"fc1": 0.08, "fc2": 0.045, "fc3": 0.25},   # [DC] LeNet-300-100 kept 8% / 9% / 26%
    "code_bits": 4, "rel_index_bits": 5,                     # [DC] LeNet-300-100: 6-bit weights, 5-bit index
    "prune_steps": 5, "prune_epochs": 30, "lr": 1e-3, "weight_decay": 1e-4,
    "finetune_epochs": 20, "finetune_lr": 1e-4, "init": "linear", "batch_size": 64,
}
"""Keyword arguments of :func:`openeie.compiler.compress.compress` for the digits MLP. Measured (seeds 0-4,
1-PE report configuration, the command line's pinned torch numerics): 40.9-41.2x with Huffman coding (37.4-37.5x
without), accuracy 98.33-98.89 % after sharing vs 98.15 % for the float model (a gain of 0.19-0.74 points);
checked by tests/test_digits.py."""


def numerics() -> dict:
    """The variables that choose torch's CPU kernels (see :data:`openeie.cli.NUMERICS`); part of every cache key,
    since results differ in their last bits between kernels."""
    return {k: os.environ.get(k, "") for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}


def load_digits_split(test_size: float = 0.3, seed: int = 0):
    """The digits data set split into train and test parts.

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        ``x`` float32 ``(n, 64)`` in [0, 1]; ``y`` int64 ``(n,)`` class labels 0..9. Stratified split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    if not 0.0 < test_size < 1.0:
        raise InputError(f"test_size={test_size!r}: expected a fraction in (0, 1)")
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def digits_mlp(widths=DIGITS_SHAPE, seed: int = 0) -> nn.Sequential:
    """A freshly initialised (seeded) MLP with layers ``fc1, fc2, ...`` and ReLU between them."""
    torch.manual_seed(seed)
    mods = OrderedDict()
    n = len(widths) - 1
    for i in range(n):
        mods[f"fc{i + 1}"] = nn.Linear(widths[i], widths[i + 1])
        if i < n - 1:
            mods[f"relu{i + 1}"] = nn.ReLU()
    return nn.Sequential(mods)


def train_digits_mlp(cache_dir=None, epochs: int = 40, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                     weight_decay: float = 1e-4, widths=DIGITS_SHAPE, progress: bool = False):
    """The trained float digits MLP, from ``cache_dir`` when cached there, else trained (and cached).

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Directory for ``digits_mlp_<settings hash>.safetensors``; None trains without caching.
    epochs, lr, batch_size, seed, weight_decay : training settings (Adam with L2 penalty ``weight_decay``,
        cross-entropy; ``seed`` seeds the initial weights, the shuffling and the data split).
    widths : tuple of int
        Layer widths, inputs first.
    progress : bool
        tqdm bar over the epochs.

    Returns
    -------
    model : torch.nn.Sequential
        In eval mode.
    info : dict
        ``path`` (cache file or None), ``cached`` (loaded from the cache), ``train_time_s``,
        ``test_accuracy`` (fraction), ``settings``.
    """
    import time
    settings = {"widths": list(widths), "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
                "weight_decay": weight_decay,
                "split": "stratified 0.3 seed", "torch": torch.__version__.split("+")[0],
                "numerics": numerics()}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed)
    model = digits_mlp(widths, seed)
    path = None if cache_dir is None else Path(cache_dir) / f"digits_mlp_{key}.safetensors"
    cached = False
    t0 = time.perf_counter()
    if path is not None and path.is_file():
        try:
            load_into(model, path)
            cached = True
        except FrontendError:
            cached = False     # a damaged cache file is retrained and overwritten
    if not cached:
        model = digits_mlp(widths, seed)
        with single_thread():
            train_epochs(model, (x_tr, y_tr), epochs, lr=lr, batch_size=batch_size, seed=seed,
                         weight_decay=weight_decay, progress=progress, desc="train digits")
        if path is not None:
            from safetensors.torch import save_file
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                      metadata={"settings": json.dumps(settings, sort_keys=True)})
            tmp.replace(path)
    model.eval()
    info = {"path": path, "cached": cached, "train_time_s": time.perf_counter() - t0,
            "test_accuracy": accuracy(model, (x_te, y_te)), "settings": settings}
    return model, info


def compress_digits(cache_dir=None, seed: int = 0, progress: bool = False, cfg=None, **overrides):
    """Train (or load) the digits MLP and compress it with :data:`DIGITS_RECIPE` (``overrides`` replace items).

    Runs on one intra-op thread, so a given seed gives the same figures from run to run.

    Returns
    -------
    network : CompressedNetwork
    report : dict
        :func:`openeie.compiler.compress.compress`'s report plus ``float_model`` (``train_digits_mlp``'s info).
    """
    from .compress import compress
    model, info = train_digits_mlp(cache_dir, progress=progress)
    x_tr, y_tr, x_te, y_te = load_digits_split()
    with single_thread():
        network, report = compress(model, (x_tr, y_tr), eval_data=(x_te, y_te), seed=seed, progress=progress,
                                   cfg=cfg, **{**DIGITS_RECIPE, **overrides})
    report["float_model"] = {k: (str(v) if k == "path" else v) for k, v in info.items()}
    return network, report

"""Bundled real models on scikit-learn's 8x8 handwritten digits (no download): LeNet-300-100's shape (an MLP) and
LeNet-5's layer sizes (a CNN).

``load_digits`` ships inside scikit-learn (1797 images of 8x8 pixels with values 0..16, 10 classes). The split
is fixed (stratified 70/30, seed 0), inputs are scaled to [0, 1] (pixel / 16). The MLP 64-300-100-10 (ReLU after
the two hidden layers) trains deterministically (seeded init and shuffling, one intra-op thread) in a few
seconds on a laptop CPU; so does :func:`digits_lenet5`, on the images as 1 x 8 x 8 inputs. Trained float weights are cached as safetensors (never pickles) under a name that
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

__all__ = ["DIGITS_SHAPE", "DIGITS_RECIPE", "LENET5_RECIPE", "DIGITS_MODELS", "numerics", "load_digits_split",
           "digits_splits",
           "digits_mlp", "digits_lenet5", "digits_inputs", "train_digits", "train_digits_mlp", "train_digits_lenet5",
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


LENET5_RECIPE = {
    "density": {"conv1": 0.66, "conv2": 0.12, "ip1": 0.06, "ip2": 0.19},   # [DC] Table 3, ip1 8% -> 6%
    "code_bits": {"conv1": 8, "conv2": 8, "ip1": 5, "ip2": 5}, "rel_index_bits": 5,  # [DC] Table 3
    "prune_steps": 4, "prune_epochs": 10, "lr": 1e-3, "weight_decay": 1e-4,
    "finetune_epochs": 10, "finetune_lr": 1e-4, "init": "linear", "batch_size": 64,
}
"""Keyword arguments of :func:`openeie.compiler.compress.compress` for :func:`digits_lenet5`: [DC] Table 3's
kept fractions and code widths."""


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


def digits_splits(validation: float = 0.0, seed: int = 0):
    """:func:`load_digits_split`'s training part split once more: ``(x_fit, y_fit, x_val, y_val, x_test,
    y_test)``, the validation part a stratified ``validation`` fraction of the training images (for choices made
    while compressing; the test part is for the report). ``validation=0`` keeps the whole training part for
    fitting and returns empty validation arrays."""
    from sklearn.model_selection import train_test_split
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed)
    if validation == 0:
        return x_tr, y_tr, x_tr[:0], y_tr[:0], x_te, y_te
    if isinstance(validation, bool) or not 0.0 < validation < 1.0:
        raise InputError(f"validation={validation!r}: expected a fraction in [0, 1)")
    x_fit, x_val, y_fit, y_val = train_test_split(x_tr, y_tr, test_size=validation, random_state=seed, stratify=y_tr)
    return x_fit, y_fit, x_val, y_val, x_te, y_te


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


def digits_lenet5(seed: int = 0) -> nn.Sequential:
    """A freshly initialised (seeded) LeNet-5 for 1 x 8 x 8 digit images, with the layer sizes of [DC]'s LeNet-5
    (Caffe's: 0.5K, 25K, 400K, 5K weights): ``conv1`` 1 -> 20 channels 5 x 5 (zero padding 2, so the 8 x 8 image
    keeps its size), ReLU, 2 x 2 max pooling, ``conv2`` 20 -> 50 channels 5 x 5 (padding 2, 4 x 4 outputs), ReLU,
    flatten (800), ``ip1`` 800 -> 500, ReLU, ``ip2`` 500 -> 10."""
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 20, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(20, 50, 5, padding=2)), ("relu2", nn.ReLU()), ("flatten", nn.Flatten()),
        ("ip1", nn.Linear(800, 500)), ("relu3", nn.ReLU()), ("ip2", nn.Linear(500, 10))]))


#: The bundled models: name -> (constructor, input shape of one sample, description).
DIGITS_MODELS = {
    "mlp": (lambda seed: digits_mlp(DIGITS_SHAPE, seed), (64,), "digits MLP 64-300-100-10"),
    "lenet5": (digits_lenet5, (1, 8, 8), "digits LeNet-5 (conv 20 5x5, max pool 2, conv 50 5x5, fc 800-500-10)"),
}


def _check_model(model: str) -> None:
    if model not in DIGITS_MODELS:
        raise InputError(f"model {model!r}: expected one of {sorted(DIGITS_MODELS)}")


def digits_inputs(x: np.ndarray, model: str = "mlp") -> np.ndarray:
    """``(n, 64)`` digit images shaped as ``model`` takes them (``(n, 1, 8, 8)`` for ``lenet5``)."""
    _check_model(model)
    return np.asarray(x).reshape((len(x),) + DIGITS_MODELS[model][1])


def train_digits_mlp(cache_dir=None, epochs: int = 40, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                     weight_decay: float = 1e-4, widths=DIGITS_SHAPE, progress: bool = False,
                     validation: float = 0.0):
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
    validation : float
        Fraction of the training images held out (:func:`digits_splits`): the model never sees them.

    Returns
    -------
    model : torch.nn.Sequential
        In eval mode.
    info : dict
        ``path`` (cache file or None), ``cached`` (loaded from the cache), ``train_time_s``,
        ``test_accuracy`` (fraction), ``settings``.
    """
    return _train(cache_dir, "digits_mlp", lambda: digits_mlp(widths, seed), (64,),
                  {"widths": list(widths), "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
                   "weight_decay": weight_decay}, progress, validation)


def train_digits_lenet5(cache_dir=None, epochs: int = 30, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                        weight_decay: float = 1e-4, progress: bool = False, validation: float = 0.0):
    """The trained float :func:`digits_lenet5`, cached like :func:`train_digits_mlp` (same parameters and
    returns; the file is ``digits_lenet5_<settings hash>.safetensors``)."""
    return _train(cache_dir, "digits_lenet5", lambda: digits_lenet5(seed), (1, 8, 8),
                  {"model": "lenet5", "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
                   "weight_decay": weight_decay}, progress, validation)


def train_digits(model: str = "mlp", cache_dir=None, progress: bool = False, validation: float = 0.0):
    """The trained float model ``model`` (a key of :data:`DIGITS_MODELS`) with its default training settings
    (``validation``: the held-out fraction of the training images, see :func:`digits_splits`)."""
    _check_model(model)
    trainer = train_digits_lenet5 if model == "lenet5" else train_digits_mlp
    return trainer(cache_dir, progress=progress, validation=validation)


def _train(cache_dir, stem: str, build, sample_shape, settings: dict, progress: bool, validation: float = 0.0):
    import time
    settings = {**settings, "split": "stratified 0.3 seed", "torch": torch.__version__.split("+")[0],
                "numerics": numerics()}
    if validation:                                  # absent at 0, so the cache keys of the full split stay
        settings["validation"] = validation
    seed = settings["seed"]
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    x_tr, y_tr, _, _, x_te, y_te = digits_splits(validation, seed=seed)
    shape = lambda x: x.reshape((len(x),) + tuple(sample_shape))      # noqa: E731
    model = build()
    path = None if cache_dir is None else Path(cache_dir) / f"{stem}_{key}.safetensors"
    cached = False
    t0 = time.perf_counter()
    if path is not None and path.is_file():
        try:
            load_into(model, path)
            cached = True
        except FrontendError:
            cached = False     # a damaged cache file is retrained and overwritten
    if not cached:
        model = build()
        with single_thread():
            train_epochs(model, (shape(x_tr), y_tr), settings["epochs"], lr=settings["lr"],
                         batch_size=settings["batch_size"], seed=seed, weight_decay=settings["weight_decay"],
                         progress=progress, desc=f"train {stem.replace('_', ' ')}")
        if path is not None:
            from safetensors.torch import save_file
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")          # concurrent trainers do not share it
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                      metadata={"settings": json.dumps(settings, sort_keys=True)})
            tmp.replace(path)
    model.eval()
    info = {"path": path, "cached": cached, "train_time_s": time.perf_counter() - t0,
            "test_accuracy": accuracy(model, (shape(x_te), y_te)), "settings": settings,
            "parameters": int(sum(p.numel() for p in model.parameters()))}
    return model, info


def compress_digits(cache_dir=None, seed: int = 0, progress: bool = False, cfg=None, model: str = "mlp",
                    validation: float = 0.0, **overrides):
    """Train (or load) a bundled digits model and compress it with its recipe (:data:`DIGITS_RECIPE` for
    ``model="mlp"``, :data:`LENET5_RECIPE` for ``"lenet5"``; ``overrides`` replace items).

    Runs on one intra-op thread, so a given seed gives the same figures from run to run. With ``validation`` > 0
    the float model and the compression see only the fitting part of the training images and the report's
    accuracies are measured on the validation part (:func:`digits_splits`); else on the test images.

    Returns
    -------
    network : CompressedNetwork
    report : dict
        :func:`openeie.compiler.compress.compress`'s report plus ``float_model`` (the trainer's info).
    """
    from .compress import compress
    _check_model(model)
    float_model, info = train_digits(model, cache_dir, progress=progress, validation=validation)
    x_tr, y_tr, x_val, y_val, x_te, y_te = digits_splits(validation)
    if validation:
        x_te, y_te = x_val, y_val
    recipe = LENET5_RECIPE if model == "lenet5" else DIGITS_RECIPE
    with single_thread():
        network, report = compress(float_model, (digits_inputs(x_tr, model), y_tr),
                                   eval_data=(digits_inputs(x_te, model), y_te), seed=seed, progress=progress,
                                   cfg=cfg, **{**recipe, **overrides})
    report["float_model"] = {k: (str(v) if k == "path" else v) for k, v in info.items()}
    return network, report

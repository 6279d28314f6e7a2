"""Iterative magnitude pruning with retraining (Deep Compression stage 1; Han et al., NIPS 2015 / ICLR 2016).

Lifecycle in the style of ``torch.ao.pruning``: :meth:`MagnitudePruner.prepare` attaches a mask to every
Linear weight (a ``torch.nn.utils.prune`` reparametrisation, ``weight = weight_orig * weight_mask``),
:meth:`MagnitudePruner.step` tightens the masks along a schedule, retraining runs between steps with the masks
in place (a pruned weight gets zero gradient through the mask and stays exactly zero), and
:meth:`MagnitudePruner.squash_mask` makes the zeros permanent. A mask already on the model from
``torch.nn.utils.prune`` is honoured: masks are only ever AND-ed, a pruned weight never comes back.

Two ways to say how much to prune, per layer (a dict keyed by qualified layer name) or for all layers (one float):

* ``density``: the fraction of the layer's weights kept at the end (0 < density <= 1). Step ``s`` of ``n``
  keeps ``d0**(1-f) * density**f`` with ``f = s/n`` and ``d0`` the density at ``prepare`` (a geometric schedule:
  every step removes the same fraction of the survivors); the largest magnitudes are kept, exactly
  ``round(target * size)`` of them.
* ``quality``: Han et al.'s sensitivity rule, threshold = quality x standard deviation of the layer's
  surviving weights at ``prepare``; step ``s`` of ``n`` prunes ``|w| <= f * quality * std``.

This module also holds the small training loop shared by retraining, centroid fine-tuning and the bundled
digits model (:func:`iterate_batches`, :func:`train_epochs`, :func:`accuracy`).
"""

from __future__ import annotations

import contextlib
import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils import prune as torch_prune

from openeie.errors import OpenEIEError

from .frontend import effective_weight, linear_modules

__all__ = ["PruneError", "MagnitudePruner", "prune_and_retrain", "sensitivity_scan", "clone_model",
           "iterate_batches", "train_epochs", "accuracy", "single_thread"]


class PruneError(OpenEIEError, ValueError):
    """A pruning target or training setting that does not make sense."""


# ---- training loop -------------------------------------------------------------------------------------------

@contextlib.contextmanager
def single_thread():
    """Run torch on one intra-op thread inside the block, then restore the previous count.

    Gives bit-reproducible float sums from run to run, and is much faster for small layers (thread hand-off
    costs more than the matrix products of a digits-sized MLP).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _as_tensor(a, dtype):
    if isinstance(a, torch.Tensor):
        return a.to(dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def iterate_batches(data, batch_size: int = 64, shuffle: bool = False, generator: torch.Generator | None = None):
    """Yield ``(x, y)`` mini-batches.

    Parameters
    ----------
    data : (X, y) tuple of arrays or tensors, or an iterable of ``(x, y)`` batches (e.g. a DataLoader)
        ``X`` is ``(n, features)`` float, ``y`` is ``(n,)`` integer class labels. An iterable is passed through
        unchanged (its own batching and shuffling apply).
    batch_size : int
        Samples per batch for an ``(X, y)`` tuple.
    shuffle : bool
        Shuffle an ``(X, y)`` tuple with ``generator`` (a seeded :class:`torch.Generator`).
    """
    if isinstance(data, tuple) and len(data) == 2:
        x = _as_tensor(data[0], torch.float32)
        y = _as_tensor(data[1], torch.int64)
        if len(x) != len(y):
            raise PruneError(f"data has {len(x)} inputs but {len(y)} labels")
        if batch_size < 1:
            raise PruneError(f"batch_size={batch_size}: expected at least 1")
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]
    else:
        yield from data


def accuracy(model: nn.Module, data, batch_size: int = 4096) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (see :func:`iterate_batches`), as a fraction in [0, 1]."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for xb, yb in iterate_batches(data, batch_size):
            correct += int((model(xb).argmax(dim=1) == yb).sum())
            total += len(yb)
    model.train(was_training)
    if total == 0:
        raise PruneError("accuracy of an empty data set")
    return correct / total


def train_epochs(model: nn.Module, data, epochs: int, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                 params=None, loss_fn=None, weight_decay: float = 0.0, progress: bool = False,
                 desc: str = "train") -> list:
    """Train with Adam for ``epochs`` passes over ``data``; returns the mean loss of each epoch.

    Parameters
    ----------
    model : torch.nn.Module
    data : see :func:`iterate_batches`
    epochs : int
        Passes over the data (0 is allowed and does nothing).
    lr : float
        Adam learning rate.
    batch_size, seed : int
        Mini-batch size and the seed of the shuffling generator (deterministic order for a given seed).
    params : iterable of torch.nn.Parameter, optional
        What to train (default: every parameter with ``requires_grad``).
    loss_fn : callable, optional
        ``loss_fn(logits, y)``; cross-entropy by default; ``loss_fn(logits, y, x)`` for a loss with a true
        ``uses_inputs`` attribute (:class:`openeie.compiler.distill.Distillation`).
    weight_decay : float
        Adam's L2 penalty.
    progress : bool
        Show a tqdm bar over the epochs.
    """
    if epochs < 0:
        raise PruneError(f"epochs={epochs}: expected a non-negative number of epochs")
    if not lr > 0:
        raise PruneError(f"lr={lr}: expected a positive learning rate")
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if epochs == 0 or not params:
        return []
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    uses_inputs = bool(getattr(loss_fn, "uses_inputs", False))
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    from tqdm.auto import tqdm
    from openeie.progress import shown
    was_training = model.training
    model.train()
    for _ in tqdm(range(epochs), desc=desc, disable=not shown(progress), leave=False):
        total, count = 0.0, 0
        for xb, yb in iterate_batches(data, batch_size, shuffle=True, generator=gen):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb, xb) if uses_inputs else loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
            count += len(yb)
        losses.append(total / max(count, 1))
    model.train(was_training)
    return losses


# ---- pruning -------------------------------------------------------------------------------------------------

def clone_model(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` that also works on a model carrying ``torch.nn.utils.prune`` masks.

    A pruned tensor attribute (``weight = weight_orig * weight_mask``) is a non-leaf tensor after a forward
    pass, which ``deepcopy`` refuses; it is detached for the copy (the copy recomputes it on its first forward)
    and restored on the original.
    """
    saved = []
    for mod in model.modules():
        for hook in mod._forward_pre_hooks.values():
            if isinstance(hook, torch_prune.BasePruningMethod):
                name = hook._tensor_name
                value = getattr(mod, name, None)
                if isinstance(value, torch.Tensor) and not value.is_leaf:
                    saved.append((mod, name, value))
                    setattr(mod, name, value.detach())
    try:
        return copy.deepcopy(model)
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def _per_layer(value, names, what, check):
    """Expand one float or a {name: float} dict to {name: float or None} over ``names``."""
    if value is None:
        return {n: None for n in names}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise PruneError(f"{what} given for unknown layer(s) {unknown}: the model's Linear layers are {names}")
        out = {n: None for n in names}
        for n, v in value.items():
            out[n] = check(n, v)
        return out
    return {n: check(n, value) for n in names}


def _check_density(name, d):
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < float(d) <= 1.0:
        raise PruneError(f"density {d!r} for layer {name!r}: expected a fraction of weights kept in (0, 1]")
    return float(d)


def _check_quality(name, q):
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not (0.0 <= float(q) and math.isfinite(q)):
        raise PruneError(f"quality {q!r} for layer {name!r}: expected a non-negative number of standard deviations")
    return float(q)


class MagnitudePruner:
    """Magnitude pruning of every Linear weight of a model, with masks kept as ``torch.nn.utils.prune`` buffers.

    Parameters
    ----------
    model : torch.nn.Module
        A model accepted by :func:`openeie.compiler.frontend.extract_layers`.
    density : float or dict of str -> float, optional
        Final fraction of weights kept, for all layers or per qualified layer name (layers not named are not
        pruned further).
    quality : float or dict of str -> float, optional
        Sensitivity-based threshold in standard deviations of the layer's weights (Han et al. 2015). Exactly
        one of ``density`` and ``quality`` must be given.
    """

    def __init__(self, model: nn.Module, density=None, quality=None):
        if (density is None) == (quality is None):
            raise PruneError("give exactly one of density (fraction kept) and quality (threshold in std devs)")
        self.model = model
        self.layers = linear_modules(model)
        names = [n for n, _ in self.layers]
        self.density = _per_layer(density, names, "density", _check_density)
        self.quality = _per_layer(quality, names, "quality", _check_quality)
        self._d0 = {}
        self._std = {}
        self._prepared = False

    # ---- lifecycle ----
    def prepare(self) -> "MagnitudePruner":
        """Attach a mask to every Linear weight (an existing ``torch.nn.utils.prune`` mask is kept as is)."""
        for name, mod in self.layers:
            if parametrize.is_parametrized(mod, "weight"):
                raise PruneError(f"layer {name!r}: weight already carries a parametrization "
                                 f"({type(mod.parametrizations.weight[0]).__name__}); squash it first")
            if not hasattr(mod, "weight_mask"):
                torch_prune.custom_from_mask(mod, "weight", torch.ones_like(mod.weight, dtype=torch.bool))
            mask = mod.weight_mask.bool()
            self._d0[name] = float(mask.float().mean())
            alive = effective_weight(mod)[mask]
            self._std[name] = float(alive.std(unbiased=False)) if alive.numel() else 0.0
        self._prepared = True
        return self

    def step(self, fraction: float = 1.0) -> dict:
        """Tighten the masks to the schedule point ``fraction`` in (0, 1]; returns ``{name: density}``."""
        if not self._prepared:
            raise PruneError("MagnitudePruner.step() before prepare()")
        if not 0.0 < fraction <= 1.0:
            raise PruneError(f"schedule fraction {fraction!r}: expected a value in (0, 1]")
        with torch.no_grad():
            for name, mod in self.layers:
                w = mod.weight_orig * mod.weight_mask
                old = mod.weight_mask.bool()
                keep = old.clone()
                if self.density[name] is not None and self.density[name] < self._d0[name]:
                    target = self._d0[name] ** (1.0 - fraction) * self.density[name] ** fraction
                    k = int(round(target * w.numel()))
                    mag = torch.where(old, w.abs(), torch.full_like(w, -1.0)).flatten()
                    order = torch.argsort(mag, descending=True, stable=True)
                    keep = torch.zeros(w.numel(), dtype=torch.bool)
                    keep[order[:k]] = True
                    keep = keep.view_as(old) & old
                elif self.quality[name] is not None:
                    keep = old & (w.abs() > fraction * self.quality[name] * self._std[name])
                mod.weight_mask.copy_(keep.to(mod.weight_mask.dtype))
                mod.weight = mod.weight_orig * mod.weight_mask      # refresh before the next forward
        return self.densities()

    def squash_mask(self) -> None:
        """Make the masks permanent: ``weight`` becomes a plain parameter with exact zeros where pruned."""
        for _, mod in self.layers:
            if torch_prune.is_pruned(mod) and hasattr(mod, "weight_mask"):
                torch_prune.remove(mod, "weight")
        self._prepared = False

    # ---- views ----
    def masks(self) -> dict:
        """``{name: bool tensor}`` of the current masks (True = kept)."""
        return {name: mod.weight_mask.bool().clone() for name, mod in self.layers}

    def densities(self) -> dict:
        """``{name: fraction of weights kept}``."""
        return {name: float(mod.weight_mask.float().mean()) for name, mod in self.layers}


def prune_and_retrain(model: nn.Module, train_data, density=None, quality=None, steps: int = 3,
                      epochs_per_step: int = 3, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                      loss_fn=None, weight_decay: float = 0.0, squash: bool = True, progress: bool = False) -> dict:
    """Prune ``model`` in place in ``steps`` magnitude steps, retraining ``epochs_per_step`` epochs after each.

    Parameters
    ----------
    model : torch.nn.Module
    train_data : see :func:`iterate_batches`
    density, quality : see :class:`MagnitudePruner`
    steps : int
        Number of pruning steps (>= 1).
    epochs_per_step : int
        Retraining epochs after every step (0 for one-shot pruning without retraining).
    lr, batch_size, seed, loss_fn, weight_decay : see :func:`train_epochs` (step ``s`` shuffles with seed
        ``seed + s``).
    squash : bool
        Remove the mask reparametrisation at the end (pruned weights stay exactly zero).
    progress : bool
        tqdm bars.

    Returns
    -------
    dict of str -> float
        Final density (fraction of weights kept) per layer.
    """
    if steps < 1:
        raise PruneError(f"steps={steps}: expected at least one pruning step")
    pruner = MagnitudePruner(model, density=density, quality=quality).prepare()
    from tqdm.auto import tqdm
    from openeie.progress import shown
    for s in tqdm(range(1, steps + 1), desc="prune", disable=not shown(progress), leave=False):
        pruner.step(s / steps)
        train_epochs(model, train_data, epochs_per_step, lr=lr, batch_size=batch_size, seed=seed + s,
                     loss_fn=loss_fn, weight_decay=weight_decay, progress=progress, desc=f"retrain {s}/{steps}")
    out = pruner.densities()
    if squash:
        pruner.squash_mask()
    return out


def sensitivity_scan(model: nn.Module, eval_fn, densities=(0.5, 0.25, 0.1, 0.05)) -> dict:
    """Prune one layer at a time (no retraining) and measure ``eval_fn(model)``: Han et al.'s sensitivity curves.

    The model is not modified (each point is measured on a copy).

    Returns
    -------
    dict of str -> list of (density, score)
    """
    out = {}
    for name, _ in linear_modules(model):
        out[name] = []
        for d in densities:
            m = clone_model(model)
            MagnitudePruner(m, density={name: d}).prepare().step(1.0)
            out[name].append((float(d), float(eval_fn(m))))
    return out

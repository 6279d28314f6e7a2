"""The Deep Compression pipeline: prune + retrain -> k-means weight sharing -> centroid fine-tuning -> report.

:func:`compress` works on a copy of the model and returns the :class:`CompressedNetwork` the lowering consumes,
with a report that holds per-stage accuracies and a storage table in the manner of [DC] Table 2, measured on
the engine's own format: the network is lowered with an :class:`EngineConfig` and every bit is counted from
the resulting :class:`Program` (entries incl. fillers x (code_bits + rel_index_bits), column pointers at
``ptr_bits``, codebooks at ``weight_bits``, biases at ``act_bits``), plain and with Huffman-coded code and
relative-index streams (:mod:`openeie.compiler.huffman`). The dense reference is fp32 weights and biases.
"""

from __future__ import annotations

import time

import numpy as np

from torch import nn

from openeie.config import CONFIG_RANGES, EngineConfig, entries_that_fit
from openeie.errors import InputError, check_int, check_number, check_type

from .frontend import extract_layers, fold_batchnorm
from .lower import lower
from .network import CompressedNetwork
from .prune import PruneError, accuracy, clone_model, iterate_batches, prune_and_retrain, train_epochs
from .storage import storage_report
from .share import INITS, export_network, finetune_centroids, share_weights

__all__ = ["compress", "network_accuracy", "report_config"]


def network_accuracy(network: CompressedNetwork, data) -> float:
    """Top-1 accuracy (fraction) of a compressed network's float64 reference (``float_forward``) on ``data``
    (images are flattened in (C, H, W) order)."""
    correct = total = 0
    for xb, yb in iterate_batches(data, 4096):
        pred = network.float_forward(xb.numpy().reshape(len(xb), -1)).argmax(axis=1)
        correct += int((pred == yb.numpy()).sum())
        total += len(yb)
    if total == 0:
        raise PruneError("accuracy of an empty data set")
    return correct / total


def _pow2_at_least(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def report_config(network: CompressedNetwork, code_bits: int, rel_index_bits: int = 4, n_pe: int = 1,
                  **fields) -> EngineConfig:
    """An engine configuration sized to ``network``, for storage reports.

    ``n_pe`` PEs (default 1: one CSC matrix per layer, the format [DC] reports), and memories of the smallest
    power-of-two depths (at least the EngineConfig defaults for activations and biases) that hold the
    network, so that column pointers are as narrow as this network allows; as many entries per 64-bit word as
    fit, at most 8. ``fields`` are further EngineConfig fields (e.g. ``weight_bits``).
    """
    from .plan import plan_network
    base = EngineConfig(n_pe=n_pe, code_bits=code_bits, rel_index_bits=rel_index_bits,
                        **{"entries_per_word": entries_that_fit(code_bits, rel_index_bits, cap=8), **fields})
    return plan_network(network, base).fit(base, round_up=_pow2_at_least, minimum={
        "act_depth": EngineConfig.act_depth, "bias_depth": EngineConfig.bias_depth, "ptr_depth": 2,
        "max_layers": EngineConfig.max_layers})


def compress(model: nn.Module, train_data, density=0.08, quality=None, code_bits=4,
             rel_index_bits: int = 4, eval_data=None, prune_steps: int = 3, prune_epochs: int = 3,
             finetune_epochs: int = 3, lr: float = 1e-3, finetune_lr: float = 1e-4, weight_decay: float = 0.0,
             init: str = "linear",
             batch_size: int = 64, seed: int = 0, cfg: EngineConfig | None = None, progress: bool = True,
             input_shape=None, low_rank=None, distill=None, shared_values=None):
    """Deep-compress a model of Linear, Conv2d, pooling and ReLU layers (BatchNorm is folded first).

    Parameters
    ----------
    model : torch.nn.Module
        Accepted by :func:`openeie.compiler.frontend.extract_layers` after
        :func:`~openeie.compiler.frontend.fold_batchnorm`; not modified (a copy is compressed).
    train_data : (X, y) or iterable of (x, y) batches
        For retraining and centroid fine-tuning (see :func:`openeie.compiler.prune.iterate_batches`).
    density : float or dict of str -> float, optional
        Fraction of weights kept (all layers, or per qualified layer name). Ignored when ``quality`` is given.
    quality : float or dict of str -> float, optional
        Sensitivity-based pruning instead: threshold = quality x std of the layer's weights.
    code_bits : int or dict of str -> int
        Weight code width: ``2**code_bits - 1`` shared values per layer plus zero; one for all layers or one per
        layer ([DC] Table 3: 8 bits for convolutions, 5 for fully connected layers). The engine stores every
        code in a field of the widest layer's width (``cfg.code_bits``); the Huffman count sees each layer's
        smaller alphabet.
    rel_index_bits : int
        Relative row index width of the storage report's engine configuration (when ``cfg`` is None).
    eval_data : (X, y), optional
        Test data for per-stage accuracies.
    prune_steps, prune_epochs : int
        Magnitude pruning steps, and retraining epochs after each.
    finetune_epochs : int
        Centroid fine-tuning epochs.
    lr, finetune_lr : float
        Adam learning rates of retraining and of centroid fine-tuning.
    weight_decay : float
        L2 penalty during retraining (not during centroid fine-tuning).
    init : {"linear", "density", "random"}
        k-means initialisation.
    batch_size, seed : int
    cfg : EngineConfig, optional
        Engine configuration of the storage report; default :func:`report_config` (1 PE, sized to the network).
        Its ``code_bits`` must equal the (widest) ``code_bits``.
    progress : bool
        tqdm progress bars.
    input_shape : (C, H, W), optional
        The image a convolutional model takes; default the shape of one ``train_data`` input when that is an
        ``(X, y)`` pair.
    low_rank : dict, optional
        Factorise first (:func:`openeie.compiler.lowrank.low_rank`): ``{"linear": rule, "conv": rule, "skip":
        [names], "epochs": fine-tuning epochs (default 10)}``, rules as there (``"vbmf"``, an energy fraction, a
        rank, or None). The factors are ordinary layers: they prune, share and lower like the others, and a
        per-layer ``density`` or ``code_bits`` given for a factorised layer's name applies to each of its factors
        (``conv2`` -> ``conv2.first``, ``conv2.core``, ``conv2.last``).
    distill : dict, optional
        Retrain with knowledge distillation from the float model (:class:`openeie.compiler.distill.Distillation`):
        ``{"temperature": T, "alpha": a}``; used by the low-rank fine-tuning, the retraining after pruning and
        the centroid fine-tuning.
    shared_values : int, optional
        Non-zero shared values per layer instead of ``2**code_bits - 1``: 2 gives ternary weights {0, w_n, w_p}
        with the two scales trained by the centroid fine-tuning (binary {w_n, w_p} with ``density=1``).

    Returns
    -------
    network : CompressedNetwork
    report : dict
        ``accuracy`` (fractions; ``float``, ``pruned``, ``shared_kmeans`` before and ``shared`` after centroid
        fine-tuning, the last measured on the exported network in float64; empty without ``eval_data``),
        ``density`` (per layer, after pruning), ``kmeans`` (per layer: iterations, converged), ``storage``
        (:func:`openeie.compiler.storage.storage_report` with Huffman accounting, as JSON), ``config`` (the report's EngineConfig as a dict), ``time_s`` per stage,
        ``codebooks`` (per layer: the non-zero centroids after k-means and after fine-tuning) and
        ``pruned_weights`` (per layer: the surviving float weights before sharing, as NumPy arrays: not JSON).
    """
    # Every setting is checked before any work (the widths against the engine's ranges: the result must compile).
    if isinstance(code_bits, dict):
        widths = {check_type(k, str, "code_bits layer name"): check_int(v, f"code_bits[{k!r}]", *CONFIG_RANGES["code_bits"])
                  for k, v in code_bits.items()}
        if not widths:
            raise InputError("code_bits = {}: expected a width for every layer")
        code_bits = max(widths.values())
    else:
        code_bits = widths = check_int(code_bits, "code_bits", *CONFIG_RANGES["code_bits"])
    rel_index_bits = check_int(rel_index_bits, "rel_index_bits", *CONFIG_RANGES["rel_index_bits"])
    check_int(prune_steps, "prune_steps", 1)
    check_int(prune_epochs, "prune_epochs", 0)
    check_int(finetune_epochs, "finetune_epochs", 0)
    check_int(batch_size, "batch_size", 1)
    check_int(seed, "seed", 0)
    for name, value in (("lr", lr), ("finetune_lr", finetune_lr)):
        check_number(value, name, 0.0, low_open=True)
    check_number(weight_decay, "weight_decay", 0.0)
    if init not in INITS:
        raise InputError(f"k-means initialisation {init!r}: expected one of {INITS}")
    if cfg is not None and not isinstance(cfg, EngineConfig):
        raise InputError(f"cfg must be an EngineConfig, not {type(cfg).__name__}")
    if cfg is not None and cfg.code_bits != code_bits:
        raise InputError(f"cfg.code_bits={cfg.code_bits} differs from code_bits={code_bits}: expected equal widths")
    if shared_values is not None:
        check_int(shared_values, "shared_values", 1, (1 << code_bits) - 1)
    model = fold_batchnorm(model)
    if input_shape is None and isinstance(train_data, tuple) and len(train_data) == 2 and np.ndim(train_data[0]) == 4:
        input_shape = tuple(np.shape(train_data[0])[1:])
    names = [l["name"] for l in extract_layers(model, input_shape)]   # refuse unsupported models before any work
    if isinstance(widths, dict) and sorted(widths) != sorted(names):
        raise InputError(f"code_bits for the layers {sorted(widths)}: expected one for each of {names}")
    if isinstance(density, dict):
        unknown = sorted(set(density) - set(names))
        if unknown:
            raise InputError(f"density given for unknown layer(s) {unknown}: the model's layers are {names}")
    low_rank = _check_low_rank(low_rank, names)
    loss_fn = _distillation(model, distill)
    work = clone_model(model)
    work.train()
    acc, times, extra = {}, {}, {}
    evaluate = (lambda m: accuracy(m, eval_data)) if eval_data is not None else None
    if evaluate:
        acc["float"] = evaluate(work)
    if low_rank is not None:
        from .lowrank import low_rank as factorise
        t0 = time.perf_counter()
        work, factors = factorise(work, low_rank["linear"], low_rank["conv"], low_rank["skip"])
        if evaluate:
            acc["low_rank"] = evaluate(work)
        train_epochs(work, train_data, low_rank["epochs"], lr=lr, batch_size=batch_size, seed=seed + 2000,
                     loss_fn=loss_fn, weight_decay=weight_decay, progress=progress, desc="low-rank fine-tuning")
        times["low_rank_s"] = time.perf_counter() - t0
        if evaluate:
            acc["low_rank_tuned"] = evaluate(work)
        extra["low_rank"] = {"settings": dict(low_rank), "layers": factors}
        new_names = [l["name"] for l in extract_layers(work, input_shape)]
        density = _expand(density, new_names)
        if isinstance(widths, dict):
            widths = _expand(widths, new_names)
        names = new_names

    t0 = time.perf_counter()
    dens = prune_and_retrain(work, train_data, density=None if quality is not None else density, quality=quality,
                             steps=prune_steps, epochs_per_step=prune_epochs, lr=lr, batch_size=batch_size,
                             seed=seed, weight_decay=weight_decay, squash=True, progress=progress, loss_fn=loss_fn)
    times["prune_s"] = time.perf_counter() - t0
    if evaluate:
        acc["pruned"] = evaluate(work)

    survivors = {}
    for layer in extract_layers(work):
        w = np.asarray(layer["weight"], dtype=np.float64)
        survivors[layer["name"]] = w[w != 0]
    t0 = time.perf_counter()
    km = share_weights(work, code_bits=widths, init=init, seed=seed, values=shared_values)
    times["kmeans_s"] = time.perf_counter() - t0
    if evaluate:
        acc["shared_kmeans"] = evaluate(work)
    t0 = time.perf_counter()
    finetune_centroids(work, train_data, epochs=finetune_epochs, lr=finetune_lr, batch_size=batch_size,
                       seed=seed + 1000, progress=progress, loss_fn=loss_fn)
    times["finetune_s"] = time.perf_counter() - t0
    network = export_network(work, input_shape)
    if eval_data is not None:
        acc["shared"] = network_accuracy(network, eval_data)

    t0 = time.perf_counter()
    if cfg is None:
        cfg = report_config(network, code_bits, rel_index_bits)
    program = lower(network, cfg)
    storage = storage_report(program, huffman=True).to_json()
    times["report_s"] = time.perf_counter() - t0
    report = {
        "accuracy": acc, "density": dens,
        "kmeans": {k: {"n_iter": r.n_iter, "converged": r.converged} for k, r in km.items()},
        "code_bits": dict.fromkeys(names, widths) if isinstance(widths, int) else {n: widths[n] for n in names},
        "storage": storage, "config": cfg.to_dict(), "time_s": times,
        "codebooks": {name: {"kmeans": km[name].centroids.tolist(), "finetuned": layer.codebook[1:].tolist()}
                      for name, layer in zip(km, network)},
        "pruned_weights": survivors,
        **extra,
    }
    if loss_fn is not None:
        report["distill"] = loss_fn.settings()
    if shared_values is not None:
        report["shared_values"] = shared_values
    return network, report


def _expand(per_layer, names):
    """A per-layer dict over the original names, extended to the factors of factorised layers (``conv2`` ->
    ``conv2.first``, ...); a scalar stays a scalar."""
    if not isinstance(per_layer, dict):
        return per_layer
    out = {}
    for name in names:
        for key, value in per_layer.items():
            if name == key or name.startswith(key + "."):
                out[name] = value
    return out


def _check_low_rank(spec, names):
    """``low_rank`` settings, checked and completed (None stays None)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InputError(f"low_rank={spec!r}: expected a dict with linear, conv, skip, epochs")
    unknown = sorted(set(spec) - {"linear", "conv", "skip", "epochs"})
    if unknown:
        raise InputError(f"low_rank keys {unknown}: expected linear, conv, skip, epochs")
    out = {"linear": spec.get("linear", "vbmf"), "conv": spec.get("conv", "vbmf"),
           "skip": list(spec.get("skip", [])), "epochs": spec.get("epochs", 10)}
    check_int(out["epochs"], "low_rank epochs", 0)
    unknown = sorted(set(out["skip"]) - set(names))
    if unknown:
        raise InputError(f"low_rank skip names {unknown}: expected layer names among {names}")
    return out


def _distillation(model, spec):
    """The distillation loss of ``spec`` (None: plain cross-entropy)."""
    if spec is None:
        return None
    from .distill import Distillation
    if not isinstance(spec, dict) or sorted(set(spec) - {"temperature", "alpha"}):
        raise InputError(f"distill={spec!r}: expected a dict with temperature and alpha")
    return Distillation(model, **spec)

"""Low-rank factorisation: truncated SVD of fully connected layers, Tucker-2 of convolutions, rank selection by
global analytic VBMF (Kim et al., ICLR 2016; Nakajima et al., JMLR 2013).

A factorised layer is a chain of ordinary layers, so it prunes, shares, lowers and runs on the engine like any
other:

* ``Linear(n_in -> n_out)`` of weight ``W`` ~ ``U_r S_r V_r^T`` becomes ``Linear(n_in -> r, no bias)`` with weight
  ``sqrt(S_r) V_r^T`` then ``Linear(r -> n_out)`` with weight ``U_r sqrt(S_r)`` and the original bias;
* ``Conv2d(S -> T, D x D)`` of kernel ``K`` (T x S x D x D) ~ core ``C`` x_3 ``U3`` x_4 ``U4`` becomes a 1x1
  convolution S -> R3 (weight ``U3^T``, no bias), the D x D convolution R3 -> R4 with the original stride and
  padding (weight ``C``, no bias), and a 1x1 convolution R4 -> T (weight ``U4``, the original bias). Zero padding
  commutes with the first 1x1 factor (it has no bias), so the chain computes exactly ``K``'s convolution when the
  ranks are full. The factors come from the truncated HOSVD of the two channel modes, refined by alternating
  least squares (HOOI) for ``hooi_iters`` sweeps.

Ranks: :func:`vbmf_rank` (the number of singular values the empirical VBMF solution keeps, noise variance
estimated) on the weight (SVD) or on the mode-3 (S x T D^2) and mode-4 (T x S D^2) unfoldings (Tucker-2, as Kim
et al. do), or :func:`energy_rank` (the fewest singular values that keep a fraction of the squared Frobenius norm).
Weights per layer: ``r (n_in + n_out)`` for SVD, ``S R3 + D^2 R3 R4 + T R4`` for Tucker-2 (Kim et al.'s M).
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from openeie.errors import OpenEIEError

__all__ = ["LowRankError", "vbmf_rank", "energy_rank", "svd_linear", "tucker2_conv", "tucker2_factors", "low_rank"]


class LowRankError(OpenEIEError, ValueError):
    """A factorisation that cannot be made (bad rank, unsupported layer, bad option)."""


# ---- rank selection ------------------------------------------------------------------------------------------

def _tau(x, alpha):
    return 0.5 * (x - (1 + alpha) + np.sqrt((x - (1 + alpha)) ** 2 - 4 * alpha))


def _evb_objective(sigma2, L, M, s, residual, xubar):
    """The empirical VB free energy (up to constants) as a function of the noise variance (Nakajima et al. 2013,
    Theorem 13 and its free energy)."""
    H = len(s)
    alpha = L / M
    x = s ** 2 / (M * sigma2)
    z1, z2 = x[x > xubar], x[x <= xubar]
    tau_z1 = _tau(z1, alpha)
    return (np.sum(z2 - np.log(z2)) + np.sum(z1 - tau_z1) + np.sum(np.log((tau_z1 + 1) / z1))
            + alpha * np.sum(np.log(tau_z1 / alpha + 1)) + residual / (M * sigma2) + (L - H) * np.log(sigma2))


def vbmf_rank(matrix) -> int:
    """Rank that global analytic empirical VBMF keeps for ``matrix`` (noise variance estimated from the matrix).

    The singular values above ``sqrt(M sigma^2 (1 + tau)(1 + alpha / tau))`` survive, with ``L <= M`` the matrix's
    sides, ``alpha = L / M``, ``tau = 2.5129 sqrt(alpha)`` and ``sigma^2`` minimising the empirical VB free energy
    (Nakajima, Sugiyama, Babacan, Tomioka, JMLR 2013). At least 1.
    """
    from scipy.optimize import minimize_scalar
    y = np.asarray(matrix, dtype=np.float64)
    if y.ndim != 2 or min(y.shape) < 1 or not np.all(np.isfinite(y)):
        raise LowRankError(f"VBMF needs a finite 2-D matrix, got shape {y.shape}")
    if y.shape[0] > y.shape[1]:
        y = y.T
    L, M = y.shape
    s = np.linalg.svd(y, compute_uv=False)
    if L == 1 or s[0] == 0:
        return 1
    alpha = L / M
    tauubar = 2.5129 * math.sqrt(alpha)
    xubar = (1 + tauubar) * (1 + alpha / tauubar)
    residual = 0.0                                  # every singular value is kept in s (H = L)
    eh_ub = int(min(math.ceil(L / (1 + alpha)) - 1, L)) - 1
    upper = (np.sum(s ** 2) + residual) / (L * M)
    lower = max(s[eh_ub + 1] ** 2 / (M * xubar), np.mean(s[eh_ub + 1:] ** 2) / M) if eh_ub + 1 < L else \
        s[-1] ** 2 / (M * xubar)
    lower = max(lower, upper * 1e-12)
    if lower >= upper:
        sigma2 = upper
    else:
        sigma2 = minimize_scalar(_evb_objective, args=(L, M, s, residual, xubar), bounds=[lower, upper],
                                 method="bounded").x
    threshold = math.sqrt(M * sigma2 * (1 + tauubar) * (1 + alpha / tauubar))
    return max(1, int(np.sum(s > threshold)))


def energy_rank(matrix, keep: float) -> int:
    """The fewest singular values of ``matrix`` whose squares sum to at least ``keep`` of the total (0 < keep <= 1)."""
    if isinstance(keep, bool) or not isinstance(keep, numbers.Real) or not 0 < keep <= 1:
        raise LowRankError(f"energy fraction {keep!r}: expected a number > 0 and <= 1")
    s2 = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False) ** 2
    if s2.sum() == 0:
        return 1
    return int(min(len(s2), np.searchsorted(np.cumsum(s2) / s2.sum(), keep - 1e-12) + 1))


def _rank_of(matrix, rule, what: str) -> int:
    if rule == "vbmf":
        return vbmf_rank(matrix)
    if isinstance(rule, bool) or not isinstance(rule, numbers.Real):
        raise LowRankError(f"{what}: rank rule {rule!r}: expected 'vbmf', an energy fraction 0 < e < 1, or an "
                           f"integer rank >= 1")
    if isinstance(rule, numbers.Integral):
        if rule < 1:
            raise LowRankError(f"{what}: rank {rule}: expected >= 1")
        return int(min(rule, min(np.shape(matrix))))
    return energy_rank(matrix, rule)


# ---- factorisations --------------------------------------------------------------------------------------------

def svd_linear(linear: nn.Linear, rank: int) -> nn.Sequential:
    """The truncated SVD of a ``Linear`` as two ``Linear`` layers (``first``: no bias, ``second``: the bias)."""
    if not isinstance(linear, nn.Linear):
        raise LowRankError(f"svd_linear needs an nn.Linear, not {type(linear).__name__}")
    w = linear.weight.detach().to(torch.float64)
    r = int(rank)
    if not 1 <= r <= min(w.shape):
        raise LowRankError(f"SVD rank {rank}: expected 1..{min(w.shape)} for a {tuple(w.shape)} weight")
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    root = s[:r].sqrt()
    first = nn.Linear(w.shape[1], r, bias=False)
    second = nn.Linear(r, w.shape[0], bias=linear.bias is not None)
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vh[:r]).to(first.weight.dtype))
        second.weight.copy_((u[:, :r] * root[None, :]).to(second.weight.dtype))
        if linear.bias is not None:
            second.bias.copy_(linear.bias.detach())
    return nn.Sequential(OrderedDict([("first", first), ("second", second)]))


def _unfold(k: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding of a (T, S, D, D) kernel: mode 3 = input channels (S x T D^2), mode 4 = output
    channels (T x S D^2), in Kim et al.'s numbering of a D x D x S x T kernel."""
    return k.transpose(0, 1).reshape(k.shape[1], -1) if mode == 3 else k.reshape(k.shape[0], -1)


def _leading(m: torch.Tensor, r: int) -> torch.Tensor:
    u, _, _ = torch.linalg.svd(m, full_matrices=False)
    return u[:, :r]


def tucker2_factors(kernel, r3: int, r4: int, hooi_iters: int = 10):
    """Tucker-2 of a (T, S, D, D) kernel over its channel modes: ``(U3, core, U4)`` with U3 (S x R3), core
    (R4, R3, D, D) and U4 (T x R4), from the truncated HOSVD refined by ``hooi_iters`` HOOI sweeps;
    ``K ~ core x_3 U3 x_4 U4``."""
    k = torch.as_tensor(kernel).detach().to(torch.float64)
    T, S = k.shape[:2]
    if not (1 <= r3 <= S and 1 <= r4 <= T):
        raise LowRankError(f"Tucker-2 ranks R3={r3}, R4={r4}: expected 1..{S} and 1..{T} for a {S} -> {T} kernel")
    u3, u4 = _leading(_unfold(k, 3), r3), _leading(_unfold(k, 4), r4)
    for _ in range(hooi_iters):
        u3 = _leading(_unfold(torch.einsum("tsyx,tr->rsyx", k, u4), 3), r3)
        u4 = _leading(_unfold(torch.einsum("tsyx,sr->tryx", k, u3), 4), r4)
    core = torch.einsum("tsyx,sa,tb->bayx", k, u3, u4)
    return u3, core, u4


def tucker2_conv(conv: nn.Conv2d, r3: int, r4: int, hooi_iters: int = 10) -> nn.Sequential:
    """A ``Conv2d`` as the chain 1x1 (S -> R3) -> D x D (R3 -> R4, the conv's stride and padding) -> 1x1 (R4 -> T,
    the conv's bias) of its Tucker-2 factors."""
    if not isinstance(conv, nn.Conv2d):
        raise LowRankError(f"tucker2_conv needs an nn.Conv2d, not {type(conv).__name__}")
    if conv.groups != 1:
        raise LowRankError(f"Tucker-2 of a grouped convolution (groups={conv.groups}) is not supported: its kernel "
                           f"is block diagonal already")
    u3, core, u4 = tucker2_factors(conv.weight, r3, r4, hooi_iters)
    first = nn.Conv2d(conv.in_channels, r3, 1, bias=False)
    core_conv = nn.Conv2d(r3, r4, conv.kernel_size, conv.stride, conv.padding, bias=False,
                          padding_mode=conv.padding_mode)
    last = nn.Conv2d(r4, conv.out_channels, 1, bias=conv.bias is not None)
    dtype = conv.weight.dtype
    with torch.no_grad():
        first.weight.copy_(u3.T.reshape(r3, conv.in_channels, 1, 1).to(dtype))
        core_conv.weight.copy_(core.to(dtype))
        last.weight.copy_(u4.reshape(conv.out_channels, r4, 1, 1).to(dtype))
        if conv.bias is not None:
            last.bias.copy_(conv.bias.detach())
    return nn.Sequential(OrderedDict([("first", first), ("core", core_conv), ("last", last)]))


def low_rank(model: nn.Module, linear="vbmf", conv="vbmf", skip=(), hooi_iters: int = 10):
    """A copy of an ``nn.Sequential`` model (BatchNorm folded first) with its Linear layers replaced by their
    truncated SVD and its Conv2d layers by their Tucker-2, where that stores fewer weights.

    Parameters
    ----------
    model : torch.nn.Sequential
        Accepted by :func:`openeie.compiler.frontend.extract_layers` (nested Sequentials allowed); not modified.
    linear, conv : "vbmf", float, int, dict of str -> rule, or None
        The rank rule of the Linear / Conv2d layers: ``"vbmf"``, an energy fraction (0 < e < 1), an integer rank
        (for a convolution: both R3 and R4, each capped by its side), per qualified layer name in a dict (missing
        names are left alone), or None to leave every such layer alone.
    skip : iterable of str
        Qualified names left alone (e.g. the first convolution, whose 1 input channel leaves nothing to factor).
    hooi_iters : int
        HOOI sweeps of the Tucker-2 factors.

    Returns
    -------
    model : torch.nn.Sequential
        Each factorised layer is an ``nn.Sequential`` under the original name (``conv2.first``, ``conv2.core``,
        ``conv2.last``; ``fc1.first``, ``fc1.second``).
    report : dict
        Per layer: ``method`` ("svd", "tucker2" or "kept" with a ``why``), ``ranks``, ``weights`` before and
        after, and ``rank_rule``.
    """
    import copy
    from .frontend import FrontendError, extract_layers, fold_batchnorm
    if type(model) is not nn.Sequential:
        raise LowRankError(f"low_rank needs an nn.Sequential model, not {type(model).__name__}")
    work = copy.deepcopy(fold_batchnorm(model))
    try:
        names = [d["name"] for d in extract_layers(work)]
    except FrontendError as e:
        raise LowRankError(str(e)) from None
    skip = set(skip)
    unknown = sorted(skip - set(names))
    if unknown:
        raise LowRankError(f"skip names {unknown}: expected layer names among {names}")
    report = {}
    for name in names:
        mod = work.get_submodule(name)
        rule = (linear if isinstance(mod, nn.Linear) else conv)
        rule = rule.get(name) if isinstance(rule, dict) else rule
        weights = mod.weight.numel()
        if name in skip or rule is None:
            report[name] = {"method": "kept", "why": "skipped" if name in skip else "no rank rule",
                            "weights": weights, "weights_after": weights}
            continue
        if isinstance(mod, nn.Linear):
            r = _rank_of(mod.weight.detach().double().numpy(), rule, f"layer {name!r}")
            after = r * (mod.in_features + mod.out_features)
            entry = {"method": "svd", "ranks": [r], "weights": weights, "weights_after": after, "rank_rule": rule}
            new = svd_linear(mod, r) if after < weights else None
        else:
            if mod.groups != 1:
                report[name] = {"method": "kept", "why": f"groups={mod.groups}", "weights": weights,
                                "weights_after": weights}
                continue
            k = mod.weight.detach().double()
            r3 = _rank_of(_unfold(k, 3).numpy(), rule, f"layer {name!r} mode 3")
            r4 = _rank_of(_unfold(k, 4).numpy(), rule, f"layer {name!r} mode 4")
            d2 = mod.kernel_size[0] * mod.kernel_size[1]
            after = mod.in_channels * r3 + d2 * r3 * r4 + mod.out_channels * r4
            entry = {"method": "tucker2", "ranks": [r3, r4], "weights": weights, "weights_after": after,
                     "rank_rule": rule}
            new = tucker2_conv(mod, r3, r4, hooi_iters) if after < weights else None
        if new is None:
            entry.update(method="kept", why=f"the factors would store {after} weights, not fewer than {weights}",
                         weights_after=weights)
        else:
            parent, _, leaf = name.rpartition(".")
            setattr(work.get_submodule(parent) if parent else work, leaf, new)
        report[name] = entry
    return work, report

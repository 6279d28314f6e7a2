"""Knowledge distillation as a retraining loss (Hinton, Vinyals, Dean 2015): the student learns the teacher's
outputs softened at temperature T, y'_i = exp(y_i / T) / sum_j exp(y_j / T), mixed with the labels.

``loss = alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross_entropy(student, y)``

(the ``T**2`` keeps the soft term's gradients on the scale of the hard term's as T changes). A
:class:`Distillation` is a ``loss_fn`` for :func:`openeie.compiler.prune.train_epochs` and everything that
retrains through it (pruning, low-rank and centroid fine-tuning): it takes the batch's inputs too, to run the
teacher on them.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from openeie.errors import InputError

__all__ = ["Distillation"]


class Distillation:
    """The distillation loss of a frozen copy of ``teacher``.

    Parameters
    ----------
    teacher : torch.nn.Module
        Copied and frozen (evaluation mode, no gradients); the model being trained is not affected.
    temperature : float
        Softening temperature T > 0 (1 = the teacher's own probabilities).
    alpha : float
        Weight of the soft term, 0 <= alpha <= 1 (0 = labels only, 1 = teacher only).
    """

    #: ``train_epochs`` calls ``loss_fn(logits, y, x)`` for a loss with this flag.
    uses_inputs = True

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7):
        import copy
        if not isinstance(teacher, nn.Module):
            raise InputError(f"distillation teacher is a {type(teacher).__name__}: expected a torch.nn.Module")
        for name, value, ok, want in (("temperature", temperature, lambda v: v > 0, "> 0"),
                                      ("alpha", alpha, lambda v: 0 <= v <= 1, "0..1")):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value) or value != value:
                raise InputError(f"distillation {name}={value!r}: expected a number {want}")
        self.teacher = copy.deepcopy(teacher).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def settings(self) -> dict:
        return {"temperature": self.temperature, "alpha": self.alpha}

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        with torch.no_grad():
            soft_target = F.softmax(self.teacher(x) / t, dim=1)
        soft = F.kl_div(F.log_softmax(logits / t, dim=1), soft_target, reduction="batchmean") * (t * t)
        if self.alpha == 1.0:
            return soft
        return self.alpha * soft + (1 - self.alpha) * F.cross_entropy(logits, y)

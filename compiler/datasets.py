"""Labelled data for training, calibration and accuracy: the bundled digits split or a user's ``.npz``.

A data file is a ``.npz`` (read with ``allow_pickle=False``) holding ``x_train``, ``y_train``, ``x_test`` and
``y_test``: ``x`` real numbers of shape ``(n, features)``, finite; ``y`` integer class labels ``0 .. classes-1``
of shape ``(n,)``; both splits non-empty with the same number of features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openeie.errors import FileInputError

__all__ = ["DataError", "load_dataset", "check_dataset"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(FileInputError):
    """A data set that cannot be used for training or evaluation."""


def check_dataset(x_tr, y_tr, x_te, y_te, what: str = "data", n_features: int | None = None,
                  n_classes: int | None = None):
    """The four arrays as ``float32`` inputs and ``int64`` labels, or :class:`DataError` naming what is wrong."""
    out = []
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind not in "iuf" or x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise DataError(f"{what}: x_{name} is {x.dtype} of shape {x.shape}: expected real numbers of shape "
                            f"(samples >= 1, features >= 1)")
        if not np.all(np.isfinite(x)):
            i = tuple(int(v[0]) for v in np.nonzero(~np.isfinite(x)))
            raise DataError(f"{what}: x_{name}{list(i)} = {x[i]}: expected finite numbers")
        if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
            raise DataError(f"{what}: y_{name} is {y.dtype} of shape {y.shape}: expected integer labels of shape "
                            f"({x.shape[0]},)")
        if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            limit = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
            raise DataError(f"{what}: y_{name} holds label {bad}: expected class labels {limit}")
        out += [x.astype(np.float32), y.astype(np.int64)]
    if out[0].shape[1] != out[2].shape[1]:
        raise DataError(f"{what}: x_train has {out[0].shape[1]} features but x_test {out[2].shape[1]}")
    if n_features is not None and out[0].shape[1] != n_features:
        raise DataError(f"{what} has {out[0].shape[1]} features but the network takes {n_features}")
    return tuple(out)


def load_dataset(spec, n_features: int | None = None, n_classes: int | None = None):
    """``"digits"`` (the bundled set, fixed split) or a ``.npz`` data file (see the module docstring).

    Returns ``(x_train, y_train, x_test, y_test)``; raises :class:`DataError`.
    """
    if spec == "digits":
        from .digits import load_digits_split
        return check_dataset(*load_digits_split(), what="digits", n_features=n_features, n_classes=n_classes)
    from openeie.files import input_file
    path = Path(spec)
    if path.suffix.lower() != ".npz":
        raise DataError(f"data {str(spec)!r}: expected 'digits' or a .npz file with {', '.join(_KEYS)}")
    try:
        input_file(path, "data file")
    except FileInputError as e:
        raise DataError(str(e)) from None
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise DataError(f"data file {str(path)!r} lacks {missing}: expected {', '.join(_KEYS)}")
            arrays = [f[k] for k in _KEYS]
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"data file {str(path)!r} is not a readable .npz ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200] if str(e) else 'malformed'})") from None
    return check_dataset(*arrays, what=f"data file {str(path)!r}", n_features=n_features, n_classes=n_classes)

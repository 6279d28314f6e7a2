"""What the engine runs on: a user's input file, or seeded activations at a stated density.

Without data, the simulation and energy commands price a seeded input in which exactly
``round(density * n_in)`` activations are non-zero (uniform in (0, 1], at random positions). The default
density, :data:`DEFAULT_ACT_DENSITY` = 35 %, is what EIE's benchmark fully connected layers see (Table III:
AlexNet fc 35.1-37.5 %, VGG fc 18.3-41.1 %): the engine skips zero activations, so an all-non-zero input would
overstate cycles and energy about threefold.
"""

from __future__ import annotations

import numpy as np

from openeie.errors import FileInputError, InputError, check_int, check_number

__all__ = ["DEFAULT_ACT_DENSITY", "random_inputs", "random_activations", "load_inputs", "describe_density"]

#: Fraction of non-zero input activations assumed when no input is given (EIE Table III, fc layers).
DEFAULT_ACT_DENSITY = 0.35


def random_inputs(n_in: int, count: int = 1, density: float = DEFAULT_ACT_DENSITY, seed: int = 0) -> np.ndarray:
    """``(count, n_in)`` float inputs: exactly ``round(density * n_in)`` non-zero per row (uniform in (0, 1])."""
    n_in = check_int(n_in, "n_in", 1)
    count = check_int(count, "count", 1)
    density = check_number(density, "activation density", 0.0, 1.0, low_open=True)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    k = max(1, int(round(density * n_in)))
    x = np.zeros((count, n_in))
    for row in x:
        pos = rng.choice(n_in, size=k, replace=False)
        row[pos] = 1.0 - rng.random(k)              # (0, 1]
    return x


def describe_density(x) -> str:
    """``"35.0 % non-zero"`` of a batch of inputs."""
    x = np.asarray(x)
    return f"{100.0 * np.count_nonzero(x) / max(x.size, 1):.1f} % non-zero"


def load_inputs(path, n_in: int) -> np.ndarray:
    """Float inputs ``(batch, n_in)`` from a ``.npy`` file of shape ``(n_in,)`` or ``(batch, n_in)`` (a regular
    file, no pickles, finite real numbers, at least one row).

    Raises
    ------
    FileInputError
        Naming the file and what is wrong with it.
    """
    from openeie.files import input_file
    path = input_file(path, "input file")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise FileInputError(f"input file {str(path)!r} is not a readable .npy array ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else 'malformed'})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise FileInputError(f"input file {str(path)!r} holds {getattr(x, 'dtype', type(x).__name__)}: expected real "
                             f"numbers")
    shape = x.shape
    x = np.atleast_2d(x.astype(np.float64))
    if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] == 0:
        raise FileInputError(f"input file {str(path)!r} has shape {shape}: expected ({n_in},) or (batch >= 1, "
                             f"{n_in})")
    if not np.all(np.isfinite(x)):
        i = tuple(int(v[0]) for v in np.nonzero(~np.isfinite(x)))
        raise InputError(f"input file {str(path)!r}: value {list(i)} = {x[i]}: expected finite numbers")
    return x


def random_activations(n: int, density: float, bits: int, seed: int = 0) -> np.ndarray:
    """``n`` fixed-point activations (``bits``-bit), exactly ``round(density * n)`` of them non-zero, at random
    positions, with random non-zero values."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n, dtype=np.int64)
    k = int(round(density * n))
    pos = rng.choice(n, size=k, replace=False)
    hi = (1 << (bits - 1)) - 1
    vals = rng.integers(1, hi + 1, size=k) * rng.choice([-1, 1], size=k)
    x[pos] = vals
    return x

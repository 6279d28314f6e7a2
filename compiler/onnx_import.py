"""ONNX import: an ONNX graph -> the architecture description and state dict of :mod:`.architecture`.

An ONNX file records the layers *and* what connects them, so nothing is assumed: :func:`model_of_onnx` reads it
with the ``onnx`` package (the optional dependencies ``[onnx]``; protobuf parsing only, no operator is executed and
no code from the file runs), walks the graph from its one input to its one output and translates each node into an
entry of an architecture (:func:`~openeie.compiler.architecture.parse_architecture`) plus the tensors of a state
dict, then builds the model with :func:`~openeie.compiler.architecture.model_from_architecture` and
:func:`~openeie.compiler.architecture.load_state`, so every size and value check is the one a ``--arch`` file gets.

Supported nodes (default ONNX domain), each with the settings the engine runs:

* ``Gemm`` (``transA = 0``, ``transB`` 0 or 1, ``alpha = beta = 1``), ``MatMul`` by a constant matrix, optionally
  followed by ``Add`` of a constant bias -> ``Linear``;
* ``Conv`` (2-D, square kernel, equal strides, equal pads, ``group = 1``, ``dilations = 1``) -> ``Conv2d``;
* ``Relu`` -> ``ReLU``; ``MaxPool`` / ``AveragePool`` (square, stride = kernel, no padding, ``ceil_mode = 0``)
  -> ``MaxPool2d`` / ``AvgPool2d``;
* ``BatchNormalization`` (inference mode) -> ``BatchNorm2d`` after a convolution, ``BatchNorm1d`` on features;
* ``Flatten`` (``axis = 1``) and ``Reshape`` to ``(batch, features)`` -> ``Flatten``; ``Dropout`` -> ``Dropout``;
  ``Identity`` -> nothing;
* ``Constant`` nodes (and ``Identity`` of a constant) supply weights, biases and shapes.

The graph must be a straight chain: every node on it consumes the previous node's output and constants. Anything
else (another operator or domain, an unsupported attribute value, a branch, a node off the chain, weights in
external data files) is refused with one :class:`~openeie.compiler.frontend.FrontendError` naming every offending
node (name and operator) and what is supported.
"""

from __future__ import annotations

import numpy as np

from .frontend import FrontendError

__all__ = ["SUPPORTED_OPS", "model_of_onnx", "architecture_of_onnx"]

#: ONNX operators of the data path that :func:`model_of_onnx` translates (``Constant`` supplies constants).
SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Conv", "Relu", "MaxPool", "AveragePool", "BatchNormalization",
                 "Flatten", "Reshape", "Dropout", "Identity")
_DOMAINS = ("", "ai.onnx")
_MAX_PROBLEMS = 24         # nodes named in one message
_MAX_BYTES = 1 << 31          # protobuf's own limit for one message (2 GiB)
_SUPPORTED_TEXT = ("supported: Gemm (transA=0, alpha=beta=1), MatMul (+ Add of a constant bias), Conv (2-D, square "
                   "kernel, equal strides and pads, group 1, dilation 1), Relu, MaxPool / AveragePool (square, "
                   "stride = kernel, no padding), BatchNormalization, Flatten (axis 1) / Reshape to (batch, "
                   "features), Dropout, Identity, Constant, in one straight chain")


class _Refused(Exception):
    """One node's problem (collected, then reported together)."""


def _require_onnx():
    """The ``onnx`` module, or the project's "install the extra" error."""
    try:
        import onnx
        from onnx import numpy_helper      # noqa: F401  (part of what is needed)
    except ImportError:
        raise FrontendError("an ONNX model needs onnx (not installed), from the optional dependencies [onnx]: "
                            "pip install 'openeie[onnx]' (in a checkout: pip install -e '.[onnx]')") from None
    return onnx


def _node_label(node, index: int) -> str:
    return f"node {index} {node.name!r} ({node.op_type})" if node.name else f"node {index} ({node.op_type})"


def _attributes(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _as_text(value):
    return value.decode() if isinstance(value, bytes) else value


def _floats(onnx, tensor, what: str) -> np.ndarray:
    """An initializer or constant as a NumPy array (floating point ones as float32)."""
    from onnx import numpy_helper
    t = onnx.TensorProto
    floating = (t.FLOAT, t.DOUBLE, t.FLOAT16, t.BFLOAT16)
    integer = (t.INT64, t.INT32, t.INT16, t.INT8, t.UINT8, t.UINT16, t.UINT32, t.UINT64, t.BOOL)
    if tensor.data_type not in floating + integer:
        name = t.DataType.Name(tensor.data_type) if tensor.data_type in t.DataType.values() else tensor.data_type
        raise _Refused(f"{what} is {name}: expected floating point (or integers for a shape)")
    array = numpy_helper.to_array(tensor)
    return array.astype(np.float32) if tensor.data_type in floating else np.asarray(array)


class _Graph:
    """The constants of a graph and its data path (the nodes that depend on the input)."""

    def __init__(self, onnx, model, where: str):
        self.onnx, self.where = onnx, where
        graph = model.graph
        self.problems = []
        self.raw = {init.name: init for init in graph.initializer}
        self.consts = {}
        external = [init.name for init in graph.initializer if init.data_location == onnx.TensorProto.EXTERNAL]
        for node in graph.node:
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.t is not None and a.t.data_location == onnx.TensorProto.EXTERNAL:
                        external.append(node.output[0])
        if external:
            raise FrontendError(f"{where} keeps tensors {external[:6]} in external data files: OpenEIE reads one "
                                f"self-contained file; save it with onnx.save_model(model, path, "
                                f"save_as_external_data=False)")
        inputs = [i for i in graph.input if i.name not in self.raw]
        if len(inputs) != 1:
            raise FrontendError(f"{where} has {len(inputs)} graph inputs {[i.name for i in inputs]}: expected one "
                                f"(the samples; weights as initializers)")
        if len(graph.output) != 1:
            raise FrontendError(f"{where} has {len(graph.output)} graph outputs {[o.name for o in graph.output]}: "
                                f"expected one (a straight chain)")
        self.input, self.output = inputs[0], graph.output[0].name
        self.data_nodes = []         # (index, node) of the data path, in file order
        for index, node in enumerate(graph.node):
            label = _node_label(node, index)
            if node.domain not in _DOMAINS:
                self.problems.append(f"{label}: domain {node.domain!r} (expected the default ONNX domain)")
                self.data_nodes.append((index, node))
            elif node.op_type == "Constant":
                self._constant(node, label)
            elif node.op_type == "Identity" and node.input and self.is_const(node.input[0]):
                try:
                    self.consts[node.output[0]] = self.const(node.input[0], "Identity input", floating=False)
                except _Refused as e:
                    self.problems.append(f"{label}: {e}")
            else:
                self.data_nodes.append((index, node))

    def _constant(self, node, label):
        attrs = {a.name: a for a in node.attribute}
        if set(attrs) != {"value"} or len(node.output) != 1:
            self.problems.append(f"{label}: only a Constant with a 'value' tensor is supported (got "
                                 f"{sorted(attrs)})")
            return
        try:
            self.consts[node.output[0]] = _floats(self.onnx, attrs["value"].t, f"constant {node.output[0]!r}")
        except _Refused as e:
            self.problems.append(f"{label}: {e}")

    def is_const(self, name: str) -> bool:
        return name in self.raw or name in self.consts

    def const(self, name: str, what: str, floating: bool = True) -> np.ndarray:
        """The constant ``name`` (an initializer or a Constant node's value); ``floating``: it must be a float
        tensor (weights), else it may hold integers (a shape)."""
        if name not in self.consts:
            if name not in self.raw:
                raise _Refused(f"{what} {name!r} is not a constant (an initializer or Constant node)")
            self.consts[name] = _floats(self.onnx, self.raw[name], f"tensor {name!r}")
        value = self.consts[name]
        if floating and value.dtype.kind != "f":
            raise _Refused(f"{what} {name!r} is {value.dtype}: expected floating point")
        return value


def _shape_of_input(value_info, where: str) -> tuple:
    """One sample's shape, ``(features,)`` or ``(C, H, W)``, from the graph input's declared shape."""
    tensor = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim] \
        if tensor.HasField("shape") else []
    if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
        shown = ["?" if d is None else d for d in dims]
        raise FrontendError(f"{where} input {value_info.name!r} has shape {shown}: expected (batch, features) or "
                            f"(batch, C, H, W) with the sample's sizes given")
    return tuple(int(d) for d in dims[1:])


class _Translator:
    """Walks the data path, producing architecture layers and state-dict tensors."""

    def __init__(self, graph: _Graph, shape: tuple, batch):
        self.g, self.shape, self.batch = graph, shape, batch
        self.layers, self.state, self.names = [], {}, set()
        self.counts = {}

    # -- naming ---------------------------------------------------------------------------------------------------
    def _name(self, kind: str, weight_name: str) -> str:
        """The torch name of the layer when the exporter kept one (``fc1.weight`` -> ``fc1``), else ``fc1``,
        ``conv2``, ``bn1``, ... numbered per kind."""
        from .architecture import _NAME, _safe
        prefix = weight_name[:-len(".weight")] if weight_name.endswith(".weight") else ""
        taken = self.names | {_safe(n) for n in self.names}
        if prefix and _NAME.match(prefix) and prefix not in taken and _safe(prefix) not in taken:
            name = prefix
        else:
            stem = {"Conv2d": "conv", "Linear": "fc"}.get(kind, "bn")
            while True:
                self.counts[stem] = self.counts.get(stem, 0) + 1
                name = f"{stem}{self.counts[stem]}"
                if name not in taken:
                    break
        self.names.add(name)
        return name

    def _weighted(self, kind: str, weight_name: str, fields: dict, tensors: dict) -> None:
        name = self._name(kind, weight_name)
        self.layers.append({"name": name, "type": kind, **fields})
        for key, value in tensors.items():
            self.state[f"{name}.{key}"] = value

    # -- nodes ------------------------------------------------------------------------------------------------------
    def node(self, node, attrs: dict, nxt) -> bool:
        """Translate one node; returns True when it also consumed ``nxt`` (a MatMul's bias Add)."""
        op = node.op_type
        handler = getattr(self, f"_{op.lower()}", None) if op in SUPPORTED_OPS else None
        if handler is None:
            raise _Refused("unsupported operator")
        return bool(handler(node, attrs, nxt))

    def _inputs(self, node, count_low: int, count_high: int):
        real = [n for n in node.input]
        while real and real[-1] == "":
            real.pop()
        if not count_low <= len(real) <= count_high:
            raise _Refused(f"{len(real)} inputs: expected {count_low}..{count_high}")
        return real

    def _features(self, what: str) -> int:
        if len(self.shape) != 1:
            raise _Refused(f"{what} of a {' x '.join(map(str, self.shape))} image: expected features (Flatten "
                           f"first)")
        return self.shape[0]

    def _image(self, what: str) -> tuple:
        if len(self.shape) != 3:
            raise _Refused(f"{what} of {self.shape[0]} features: expected a C x H x W image")
        return self.shape

    @staticmethod
    def _only(attrs: dict, allowed: dict) -> None:
        """Every attribute known and at its allowed value(s) (``allowed``: name -> tuple of values, or None for
        any value checked elsewhere)."""
        for key, value in attrs.items():
            if key not in allowed:
                raise _Refused(f"attribute {key}={value!r} is not supported (expected only {sorted(allowed)})")
            ok = allowed[key]
            if ok is not None and _as_text(value) not in ok:
                raise _Refused(f"attribute {key}={_as_text(value)!r}: expected {' or '.join(map(repr, ok))}")

    def _linear(self, node, weight: np.ndarray, bias, weight_name: str) -> None:
        n_in = self._features(node.op_type)
        if weight.shape[1] != n_in:
            raise _Refused(f"weight {weight_name!r} takes {weight.shape[1]} inputs but the previous layer produces "
                           f"{n_in}")
        tensors = {"weight": weight}
        if bias is not None:
            bias = np.asarray(bias, np.float32)
            if bias.size == 1:
                bias = np.full(weight.shape[0], bias.reshape(-1)[0], np.float32)
            if bias.size != weight.shape[0] or bias.ndim > 2 or (bias.ndim == 2 and bias.shape[0] != 1):
                raise _Refused(f"bias of shape {bias.shape}: expected ({weight.shape[0]},)")
            tensors["bias"] = bias.reshape(-1)
        self._weighted("Linear", weight_name, {"in_features": int(weight.shape[1]),
                                               "out_features": int(weight.shape[0]), "bias": bias is not None},
                       tensors)
        self.shape = (int(weight.shape[0]),)

    def _gemm(self, node, attrs, nxt):
        self._only(attrs, {"alpha": (1.0,), "beta": (1.0,), "transA": (0,), "transB": (0, 1)})
        real = self._inputs(node, 2, 3)
        b = self.g.const(real[1], "Gemm input B")
        if b.ndim != 2:
            raise _Refused(f"input B {real[1]!r} has shape {b.shape}: expected a 2-D matrix")
        weight = b if attrs.get("transB", 0) == 1 else b.T
        bias = self.g.const(real[2], "Gemm input C") if len(real) == 3 else None
        self._linear(node, np.ascontiguousarray(weight), bias, real[1])

    def _matmul(self, node, attrs, nxt):
        self._only(attrs, {})
        real = self._inputs(node, 2, 2)
        b = self.g.const(real[1], "MatMul input B")
        if b.ndim != 2:
            raise _Refused(f"input B {real[1]!r} has shape {b.shape}: expected a 2-D matrix")
        bias, fused = None, False
        if nxt is not None and nxt.op_type == "Add" and nxt.domain in _DOMAINS and node.output[0] in nxt.input:
            other = [n for n in nxt.input if n != node.output[0]]
            if len(nxt.input) == 2 and len(other) == 1 and self.g.is_const(other[0]):
                bias, fused = self.g.const(other[0], "Add input"), True
        self._linear(node, np.ascontiguousarray(b.T), bias, real[1])
        return fused

    def _add(self, node, attrs, nxt):
        raise _Refused("Add is supported only as the bias of a MatMul by a constant matrix (directly after it)")

    def _conv(self, node, attrs, nxt):
        self._only(attrs, {"kernel_shape": None, "strides": None, "pads": None, "dilations": None, "group": (1,),
                           "auto_pad": ("NOTSET", "VALID")})
        real = self._inputs(node, 2, 3)
        w = self.g.const(real[1], "Conv weight")
        c, h, width = self._image("Conv")
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            raise _Refused(f"weight {real[1]!r} has shape {w.shape}: expected a square 2-D kernel (out, in, k, k)")
        k = int(w.shape[2])
        if list(attrs.get("kernel_shape", [k, k])) != [k, k]:
            raise _Refused(f"kernel_shape {list(attrs['kernel_shape'])} differs from the weight's {k} x {k}")
        strides = list(attrs.get("strides", [1, 1]))
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if _as_text(attrs.get("auto_pad", "NOTSET")) == "VALID":
            pads = [0, 0, 0, 0]
        if len(strides) != 2 or strides[0] != strides[1]:
            raise _Refused(f"strides {strides}: expected two equal strides")
        if len(pads) != 4 or len(set(pads)) != 1:
            raise _Refused(f"pads {pads}: expected four equal pads")
        if list(attrs.get("dilations", [1, 1])) != [1, 1]:
            raise _Refused(f"dilations {list(attrs['dilations'])}: expected [1, 1]")
        if w.shape[1] != c:
            raise _Refused(f"weight {real[1]!r} takes {w.shape[1]} channels but the input has {c}")
        bias = self.g.const(real[2], "Conv bias") if len(real) == 3 else None
        if bias is not None and bias.shape != (w.shape[0],):
            raise _Refused(f"bias of shape {bias.shape}: expected ({w.shape[0]},)")
        s, p = int(strides[0]), int(pads[0])
        tensors = {"weight": w} if bias is None else {"weight": w, "bias": bias}
        self._weighted("Conv2d", real[1], {"in_channels": int(c), "out_channels": int(w.shape[0]),
                                           "kernel_size": k, "stride": s, "padding": p, "groups": 1,
                                           "bias": bias is not None}, tensors)
        self.shape = (int(w.shape[0]), (h + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1)

    def _relu(self, node, attrs, nxt):
        self._only(attrs, {})
        self._inputs(node, 1, 1)
        self.layers.append({"type": "ReLU"})

    def _pool(self, node, attrs, kind: str):
        allowed = {"kernel_shape": None, "strides": None, "pads": None, "ceil_mode": (0,), "auto_pad": ("NOTSET",),
                   "dilations": None}
        if kind == "MaxPool2d":
            allowed["storage_order"] = (0,)
        else:
            allowed["count_include_pad"] = (0, 1)          # no padding: both count the same
        self._only(attrs, allowed)
        self._inputs(node, 1, 1)
        c, h, w = self._image(node.op_type)
        kernel = list(attrs.get("kernel_shape", []))
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            raise _Refused(f"kernel_shape {kernel}: expected a square 2-D window")
        if list(attrs.get("strides", [1, 1])) != kernel:
            raise _Refused(f"strides {list(attrs.get('strides', [1, 1]))}: expected the kernel {kernel} "
                           f"(non-overlapping windows)")
        if any(attrs.get("pads", [0, 0, 0, 0])):
            raise _Refused(f"pads {list(attrs['pads'])}: expected no padding")
        if list(attrs.get("dilations", [1, 1])) != [1, 1]:
            raise _Refused(f"dilations {list(attrs['dilations'])}: expected [1, 1]")
        k = int(kernel[0])
        self.layers.append({"type": kind, "kernel_size": k})
        self.shape = (c, h // k, w // k)

    def _maxpool(self, node, attrs, nxt):
        self._pool(node, attrs, "MaxPool2d")

    def _averagepool(self, node, attrs, nxt):
        self._pool(node, attrs, "AvgPool2d")

    def _batchnormalization(self, node, attrs, nxt):
        self._only(attrs, {"epsilon": None, "momentum": None, "training_mode": (0,), "spatial": (1,)})
        real = self._inputs(node, 5, 5)
        scale, shift, mean, var = (self.g.const(n, f"BatchNormalization input {i + 1}")
                                   for i, n in enumerate(real[1:]))
        channels = self.shape[0]
        for n, t in zip(real[1:], (scale, shift, mean, var)):
            if t.shape != (channels,):
                raise _Refused(f"input {n!r} has shape {t.shape}: expected ({channels},), one per "
                               f"{'channel' if len(self.shape) == 3 else 'feature'}")
        kind = "BatchNorm2d" if len(self.shape) == 3 else "BatchNorm1d"
        self._weighted(kind, real[1], {"num_features": int(channels), "eps": float(attrs.get("epsilon", 1e-5))},
                       {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var})

    def _flatten(self, node, attrs, nxt):
        self._only(attrs, {"axis": None})
        self._inputs(node, 1, 1)
        rank = len(self.shape) + 1
        axis = int(attrs.get("axis", 1))
        if (axis + rank if axis < 0 else axis) != 1:
            raise _Refused(f"axis {axis}: expected 1 (keep the batch, flatten each sample)")
        self._flatten_to_features()

    def _flatten_to_features(self):
        self.layers.append({"type": "Flatten"})
        self.shape = (int(np.prod(self.shape)),)

    def _reshape(self, node, attrs, nxt):
        self._only(attrs, {"allowzero": (0,)})
        real = self._inputs(node, 2, 2)
        target = self.g.const(real[1], "Reshape shape", floating=False)
        features = int(np.prod(self.shape))
        target = [int(v) for v in np.asarray(target).reshape(-1)] if np.asarray(target).dtype.kind in "iu" else None
        batch_ok = (0, -1) + ((self.batch,) if self.batch is not None else ())
        fits = target is not None and len(target) == 2 and (
            (target[0] in batch_ok and target[1] in (features, -1)) or target == [-1, features])
        if not fits or target.count(-1) > 1:
            raise _Refused(f"shape {target}: expected (batch, {features}) -- a flatten of each sample")
        self._flatten_to_features()

    def _dropout(self, node, attrs, nxt):
        self._only(attrs, {"ratio": None, "seed": None})
        real = self._inputs(node, 1, 3)
        p = float(attrs.get("ratio", 0.5))
        if len(real) >= 2 and real[1]:
            ratio = np.asarray(self.g.const(real[1], "Dropout ratio"))
            if ratio.size != 1:
                raise _Refused(f"ratio of shape {ratio.shape}: expected a scalar")
            p = float(ratio.reshape(-1)[0])
        training = self.g.const(real[2], "Dropout training_mode", floating=False) if len(real) == 3 else None
        if training is not None and bool(np.asarray(training).any()):
            raise _Refused("training_mode is true: expected an inference graph")
        self.layers.append({"type": "Dropout", "p": p})

    def _identity(self, node, attrs, nxt):
        self._inputs(node, 1, 1)


def _walk(graph: _Graph, translator: _Translator) -> None:
    """Follow the chain from the graph input to the output, translating each node; collect every problem.

    After the first node that cannot be translated, the rest of the chain is still walked (branches and
    unsupported operators are named) but no longer translated: its sizes are unknown."""
    onnx, problems = graph.onnx, graph.problems
    order = graph.data_nodes
    reported = {i for i, n in order if n.domain not in _DOMAINS}          # named by _Graph already
    consumers = {}
    for index, node in order:
        for name in dict.fromkeys(node.input):
            if name and not graph.is_const(name):
                consumers.setdefault(name, []).append((index, node))
    current, visited, translating = graph.input.name, set(), True
    while True:
        users = consumers.get(current, [])
        if current == graph.output:
            if users:
                problems.append(f"tensor {current!r} is the graph output and also feeds "
                                f"{', '.join(_node_label(n, i) for i, n in users)}: expected a straight chain")
            break
        if len(users) != 1:
            problems.append(f"tensor {current!r} feeds no node and is not the graph output: expected a chain from "
                            f"the input to the output" if not users else
                            f"tensor {current!r} feeds {len(users)} nodes "
                            f"({', '.join(_node_label(n, i) for i, n in users)}): a branch; expected a straight "
                            f"chain")
            break
        index, node = users[0]
        label = _node_label(node, index)
        visited.add(index)
        data_inputs = [n for n in node.input if n and not graph.is_const(n)]
        used = [o for o in node.output if o and (o in consumers or o == graph.output)]
        if data_inputs != [current] or used != [node.output[0]]:
            problems.append(f"{label} takes the tensors {data_inputs} and has the outputs {used} in use: expected "
                            f"one of each, and constants (a straight chain)")
            reported.add(index)
            break
        after = consumers.get(node.output[0], [])
        nxt = after[0][1] if len(after) == 1 and node.output[0] != graph.output else None
        fused = False
        if index in reported:
            translating = False
        elif node.op_type not in SUPPORTED_OPS:
            problems.append(f"{label}: unsupported operator")
            reported.add(index)
            translating = False
        elif translating:
            try:
                fused = translator.node(node, _attributes(onnx, node), nxt)
            except _Refused as e:
                problems.append(f"{label}: {e}")
                reported.add(index)
                translating = False
        current = node.output[0]
        if fused:
            visited.add(after[0][0])
            current = nxt.output[0]
    for index, node in order:
        if index not in visited and index not in reported:
            reason = "unsupported operator" if node.op_type not in SUPPORTED_OPS else \
                "not on the chain from the input to the output"
            problems.append(f"{_node_label(node, index)}: {reason}")
    if len(problems) > _MAX_PROBLEMS:
        problems[_MAX_PROBLEMS:] = [f"and {len(problems) - _MAX_PROBLEMS} more"]


def architecture_of_onnx(path) -> tuple:
    """The architecture (as :func:`~openeie.compiler.architecture.parse_architecture` takes it) and the
    state dict (``{name: torch.Tensor}``, float32) of an ONNX file, and notes on where they came from.

    Returns
    -------
    arch : dict
    state : dict of str -> torch.Tensor
    notes : list of str

    Raises
    ------
    FrontendError
        The file is missing or not an ONNX model, keeps its weights in external data, has not exactly one input
        and one output, or holds nodes that cannot be translated (all named in one message).
    """
    import torch
    from openeie.errors import FileInputError
    from openeie.files import read_bytes
    onnx = _require_onnx()
    where = f"ONNX model {str(path)!r}"
    try:
        data = read_bytes(path, "ONNX model", _MAX_BYTES)
    except FileInputError as e:
        raise FrontendError(str(e)) from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:      # protobuf's DecodeError and friends
        raise FrontendError(f"{where} cannot be read: not an ONNX model ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:160] if str(e) else 'malformed'})") from None
    if model.ir_version < 1 or not model.HasField("graph") or not model.graph.node:
        raise FrontendError(f"{where} holds no graph (IR version {model.ir_version}, "
                            f"{len(model.graph.node)} nodes): not an ONNX model")
    graph = _Graph(onnx, model, where)
    shape = _shape_of_input(graph.input, where)
    dims = graph.input.type.tensor_type.shape.dim
    batch = int(dims[0].dim_value) if dims[0].HasField("dim_value") else None
    translator = _Translator(graph, shape, batch)
    _walk(graph, translator)
    if graph.problems and any(n.op_type == "Shape" for _, n in graph.data_nodes):
        graph.problems.append("hint: x.view(x.size(0), -1) exports a Shape computation; torch.flatten(x, 1) or "
                              "nn.Flatten() exports one Flatten node")
    if graph.problems:
        raise FrontendError(f"{where} cannot be imported: {'; '.join(graph.problems)} ({_SUPPORTED_TEXT})")
    if not translator.layers:
        raise FrontendError(f"{where} holds no layer: expected Gemm, MatMul or Conv nodes")
    arch = {"input_shape": list(shape), "layers": translator.layers}
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in translator.state.items()}
    opset = max((o.version for o in model.opset_import if o.domain in _DOMAINS), default=0)
    producer = f"{model.producer_name} {model.producer_version}".strip() or "an unnamed producer"
    return arch, state, [f"architecture from the ONNX graph (opset {opset}, from {producer})"]


def model_of_onnx(path) -> tuple:
    """The float model an ONNX file holds (see the module docstring for what is supported).

    Parameters
    ----------
    path : str or os.PathLike
        An ONNX file (protobuf, weights inside it).

    Returns
    -------
    model : torch.nn.Sequential
        Built by :func:`~openeie.compiler.architecture.model_from_architecture`, holding the file's weights.
    input_shape : tuple of int
        One sample's shape: ``(features,)`` or ``(C, H, W)``.
    notes : list of str
        Where the architecture came from, and the layer chain.

    Raises
    ------
    FrontendError
        As :func:`architecture_of_onnx`, and the checks of
        :func:`~openeie.compiler.architecture.model_from_architecture` / :func:`~.architecture.load_state`
        (sizes that do not chain, non-finite weights, ...).
    """
    from .architecture import _WEIGHTED, load_state, model_from_architecture, parse_architecture
    arch, state, notes = architecture_of_onnx(path)
    where = f"ONNX model {str(path)!r}"
    arch = parse_architecture(arch, where)
    model, shape = model_from_architecture(arch, where)
    load_state(model, state, arch, where)
    model.eval()
    kinds = [e["type"] if e["type"] not in _WEIGHTED else f"{e['name']} {e['type']}" for e in arch["layers"]]
    return model, tuple(shape), [f"{notes[0]}: input {' x '.join(map(str, shape))} -> {' -> '.join(kinds)}"]

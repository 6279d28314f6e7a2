"""Single blocks of the design for timing analysis: a block alone, every port behind a flip-flop.

:class:`ScanWrapper` feeds all input ports of a block from one shift chain (one pin) and folds all output
ports, registered, into one XOR bit (one pin), so every path of the result starts and ends at a flip-flop
inside or next to the block: the estimate flow then reports the block's own Fmax and critical path, free of
the rest of the engine. ``openeie synth --estimate --block pe`` uses it.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring

from openeie.config import EngineConfig
from openeie.errors import InputError

__all__ = ["BLOCKS", "ScanWrapper", "make_block"]


def _pe(cfg):
    from openeie.hw.pe import ProcessingElement
    return ProcessingElement(cfg)


def _counters(cfg):
    from openeie.hw.counters import Counters
    return Counters(cfg)


def _broadcaster(cfg):
    from openeie.hw.broadcast import Broadcaster
    return Broadcaster(cfg)


def _controller(cfg):
    from openeie.hw.controller import Controller
    return Controller(cfg)


def _decoder(cfg):
    from .link import CommandDecoder
    return CommandDecoder(cfg)


#: Block name -> factory of the bare block for a configuration.
BLOCKS = {"pe": _pe, "counters": _counters, "broadcaster": _broadcaster, "controller": _controller,
          "decoder": _decoder}


class ScanWrapper(wiring.Component):
    """``block`` with all inputs driven from a shift chain fed by ``si`` and all outputs registered and XORed
    into ``so``.

    Parameters
    ----------
    block : wiring.Component
    """

    def __init__(self, block: wiring.Component):
        self._block = block
        super().__init__({"si": wiring.In(1), "so": wiring.Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self._block
        inputs, outputs = [], []
        for _, member, value in block.signature.flatten(block):
            (inputs if member.flow == wiring.In else outputs).append(Value.cast(value))
        chain = Signal(max(1, sum(len(v) for v in inputs)))
        m.d.sync += chain.eq(Cat(self.si, chain[:-1]))
        if inputs:
            m.d.comb += Cat(*inputs).eq(chain)
        captured = Signal(max(1, sum(len(v) for v in outputs)))
        folded = Signal()
        m.d.sync += [captured.eq(Cat(*outputs)), folded.eq(captured.xor())]
        m.d.comb += self.so.eq(folded)
        return m


def make_block(name: str, cfg: EngineConfig) -> ScanWrapper:
    """The named block of :data:`BLOCKS` for ``cfg``, wrapped for timing analysis."""
    try:
        factory = BLOCKS[name]
    except KeyError:
        raise InputError(f"unknown block {name!r}: expected one of {', '.join(BLOCKS)}") from None
    return ScanWrapper(factory(cfg))

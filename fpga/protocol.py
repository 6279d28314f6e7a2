"""The host link protocol: a byte-oriented command set over a UART (8N1), shared by the gateware
(:mod:`openeie.fpga.link`) and the host driver (:mod:`openeie.fpga.host`).

Every multi-byte integer is little-endian. Fields wider than a whole number of bytes are zero-extended to the
next byte (``load_bytes``, ``act_bytes`` and ``counter_bytes`` of :class:`FrameFormat`). The host sends one
command, then reads its whole response before it sends the next command (the board has no receive buffer
beyond one byte and never needs one: it consumes bytes faster than the line delivers them).

=======  ==========  ===========================================  =================================================
opcode   name        request bytes after the opcode               response
=======  ==========  ===========================================  =================================================
``00``   NOP         --                                           none (padding, e.g. to resynchronise)
``01``   HELLO       --                                           ``"OEIE"``, version, 4 bytes of the engine
                                                                  configuration hash, status
``02``   LOAD        count (2), count x load word (``load_bytes``) status. Each word is a
                                                                  :func:`openeie.layout.load_word_layout` value.
``03``   ACT         count (2), count x activation (``act_bytes``) status. Activations go to bank 0 at storage
                                                                  positions 0, 1, 2, ... (reset by START)
``04``   START       n_layers (2)                                 status (``BUSY`` if a run is in progress)
``05``   WAIT        --                                           status once the run has finished (``IDLE`` if
                                                                  no run was started)
``06``   READ        count (2)                                    count x activation, status (``NO_OUTPUT`` if the
                                                                  engine had fewer outputs; the missing ones
                                                                  read as 0)
``07``   COUNTERS    first (2), count (2)                         count x counter (``counter_bytes``), status.
                                                                  Addresses: :func:`openeie.stats.counter_index`
other    --          --                                           status ``BAD_OPCODE``
=======  ==========  ===========================================  =================================================

Resynchronisation: the board abandons a request left incomplete for ``RESYNC_BYTE_TIMES`` byte times; a host
that lost step stays silent that long, discards whatever it receives, and starts again with HELLO.

A run is ``LOAD``\\* (the images, :meth:`openeie.program.Program.load_words`), ``ACT`` (the storage-order input),
``START``, ``WAIT``, ``READ`` (the last layer's ``out_slots * n_pe`` storage-order outputs; the engine produces
them only after ``done`` and stays busy until all are read), ``COUNTERS``. LOAD and ACT must not be sent while
a run is in progress (the engine accepts neither while busy), and COUNTERS gives the run's counts once it is
done (while it runs, the engine is flushing its counters and the port shows none of them in particular).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from openeie.config import EngineConfig
from openeie.layout import load_word_layout
from openeie.stats import counter_index

__all__ = ["VERSION", "MAGIC", "DEFAULT_BAUD", "COUNT_BYTES", "MAX_COUNT", "HASH_BYTES", "RESYNC_BYTE_TIMES", "Opcode",
           "Status", "FrameFormat", "hello_bytes"]

#: Protocol version, sent in the HELLO response.
VERSION = 1
#: First bytes of the HELLO response.
MAGIC = b"OEIE"
#: Line rate the board tops and the host driver use unless told otherwise.
DEFAULT_BAUD = 115200
#: Width of the count / address / n_layers fields.
COUNT_BYTES = 2
#: Largest count of one LOAD / ACT / READ / COUNTERS command.
MAX_COUNT = (1 << (8 * COUNT_BYTES)) - 1
#: Bytes of the configuration hash in the HELLO response.
HASH_BYTES = 4
#: The board abandons a request left incomplete for this many byte times (10 bits each) of silence, so a host
#: resynchronises after an interrupted command by staying silent that long (then draining stale responses).
RESYNC_BYTE_TIMES = 64


class Opcode(enum.IntEnum):
    NOP = 0x00
    HELLO = 0x01
    LOAD = 0x02
    ACT = 0x03
    START = 0x04
    WAIT = 0x05
    READ = 0x06
    COUNTERS = 0x07


class Status(enum.IntEnum):
    """Last byte of every response."""
    OK = 0x06           # ASCII ACK
    BAD_OPCODE = 0x15   # ASCII NAK
    BUSY = 0x10         # START while a run is in progress
    IDLE = 0x11         # WAIT without a run started
    NO_OUTPUT = 0x12    # READ asked for more outputs than the engine produced

    @property
    def message(self) -> str:
        return {
            Status.OK: "ok",
            Status.BAD_OPCODE: "the board did not recognise the command (link out of step?)",
            Status.BUSY: "the engine is busy with a run",
            Status.IDLE: "no run was started",
            Status.NO_OUTPUT: "the engine produced fewer outputs than were read",
        }[self]


def _nbytes(bits: int) -> int:
    return max(1, -(-bits // 8))


@dataclass(frozen=True)
class FrameFormat:
    """Byte widths of the variable-size fields for one engine configuration (all derived, none typed)."""

    load_bytes: int
    act_bytes: int
    counter_bytes: int
    n_counters: int

    @classmethod
    def for_config(cls, cfg: EngineConfig) -> "FrameFormat":
        from openeie.hw.counters import COUNTER_BITS
        return cls(load_bytes=_nbytes(load_word_layout(cfg).size), act_bytes=_nbytes(cfg.act_bits),
                   counter_bytes=_nbytes(COUNTER_BITS), n_counters=len(counter_index(cfg)))


def hello_bytes(cfg: EngineConfig) -> bytes:
    """The HELLO response of a board built for ``cfg``, status included."""
    return MAGIC + bytes([VERSION]) + cfg.hash()[:HASH_BYTES] + bytes([Status.OK])

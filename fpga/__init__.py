"""FPGA flow of OpenEIE: board tops, the UART host link and its host driver, synthesis with the YoWASP tools.

=================  ===========================================================================================
module             what
=================  ===========================================================================================
``protocol``       the host link's byte protocol (opcodes, statuses, field widths)
``uart``           8N1 UART receiver / transmitter (gateware)
``link``           command decoder in front of the engine; ``LinkedEngine`` = UART + decoder + engine
``memmap``         memory mapping (iCE40 SPRAM for the sparse matrix) through ``platform.get_memory``
``boards``         devices, boards (iCEBreaker, ULX3S-85F, OrangeCrab-85F) and ``BoardTop``
``presets``        engine configurations sized for each device
``tools``          discovery of the YoWASP tools and the error a failed tool raises
``pll``            ECP5 PLL (``--clock-mhz``)
``synth``          board-less estimates and board bitstreams, JSON + Markdown reports
``sweep``          PE count vs utilisation and Fmax
``host``           host driver (pyserial or any transport): ``run(program, x_q) -> (outputs, stats)``
``flash``          the bitstream ``synth`` wrote, programmed with openFPGALoader or the board's own tool
=================  ===========================================================================================

The command line (``openeie synth``, ``openeie run``) is :mod:`openeie.commands.synth` and
:mod:`openeie.commands.run`, its reports are rendered by
:mod:`openeie.report`, and the board in Verilator is :mod:`openeie.testbench.simlink`. See ``fpga/README.md`` for
the protocol, the commands and measured results.
"""

"""Formal contracts of OpenEIE hardware blocks, checked by bounded model checking (SymbiYosys + yices).

In the style of Amaranth's own FIFO formal specs: each spec is an Elaboratable that instantiates the block
(driven by free inputs, ``AnySeq``) beside a naive reference model and asserts that the two agree every
cycle. :func:`run_bmc` turns a spec into RTLIL and runs ``yowasp-sby`` in BMC mode. :mod:`.mutants` builds
deliberately faulty copies of the blocks so that every proof can be shown to fail.
"""

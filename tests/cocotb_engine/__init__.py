"""cocotb testbench of the OpenEIE engine (driver, monitor, golden-model checker, scoreboard) and the
reference models the RTL statistics are checked against."""

"""Test benches and oracles: the cocotb engine bench, the Verilator runner, the board in Verilator behind a
simulated UART, and the stage-by-stage stepper. They may import every domain; nothing in the core or the domains
imports them (the demo and the commands do, to run the RTL)."""

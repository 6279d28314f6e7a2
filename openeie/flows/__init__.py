"""Pipelines over several domains (the demo, the sweeps, the benchmarks, batch simulation and energy): they
compute and return plain data; the commands render it (:mod:`openeie.report`)."""

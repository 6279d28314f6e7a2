# %% [markdown]
# # Energy: weights in on-chip SRAM vs in DRAM
#
# The bundled digits MLP, compressed, compiled for a 4-PE engine and simulated; the energy model prices the
# simulated access counts at 45 nm (`openeie/sim/energy_45nm.yaml`), once with the compressed weights in SRAM
# and once read from DRAM, next to the dense fp32 network read from DRAM. Writes `energy_sram_vs_dram.png`.

# %%
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

import openeie

cache = os.environ.get("OPENEIE_EXAMPLES_CACHE", ".cache/openeie")
x_train, y_train, x_test, y_test = openeie.load_data("digits")
net = openeie.compress("mlp", cache_dir=cache, prune_steps=2, prune_epochs=4, finetune_epochs=3)
program = openeie.compile(net, openeie.EngineConfig(n_pe=4), fit=True)
sim = openeie.simulate(program, x_test[:32])
assert sim.matches_golden
energy = openeie.energy(sim)

# %%
sc = energy.scenarios
print(f"compressed, weights in SRAM : {sc['compressed_sram_pj'] / 1e3:9.2f} nJ per inference")
print(f"compressed, weights in DRAM : {sc['compressed_dram_pj'] / 1e3:9.2f} nJ "
      f"({sc['compressed_dram_over_sram']:.0f}x)")
print(f"dense fp32 from DRAM        : {sc['dense_fp32_dram_pj'] / 1e3:9.2f} nJ ({sc['dense_over_sram']:.0f}x)")
assert sc["compressed_sram_pj"] < sc["compressed_dram_pj"] < sc["dense_fp32_dram_pj"]

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
names = ["compressed,\nSRAM", "compressed,\nDRAM", "dense fp32,\nDRAM"]
values = [sc["compressed_sram_pj"] / 1e3, sc["compressed_dram_pj"] / 1e3, sc["dense_fp32_dram_pj"] / 1e3]
bars = left.bar(names, values, color=["tab:green", "tab:orange", "tab:red"])
left.bar_label(bars, fmt="%.1f nJ")
left.set_yscale("log")
left.set_ylabel("energy per inference (nJ, log scale)")
left.set_title("the same inference three ways")
parts = {k: v / 1e3 for k, v in energy.breakdown_pj.items() if v > 0}
right.barh(list(parts), list(parts.values()))
right.set_xlabel("energy per inference (nJ)")
right.set_title(f"on chip, per component: {energy.total_nj:.1f} nJ in total")
fig.tight_layout()
fig.savefig("energy_sram_vs_dram.png", dpi=120)
print("wrote energy_sram_vs_dram.png")

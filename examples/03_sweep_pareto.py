# %% [markdown]
# # A bit-width / PE-count sweep with a Pareto plot
#
# The bundled digits MLP (64-300-100-10) compressed with 2-, 3- and 4-bit weight codes (short retraining, so
# that the example runs in a minute), each compiled for engines of 2, 4 and 8 PEs, simulated on the cycle model
# and priced by the energy model. The points on the accuracy / energy Pareto front are annotated. For the full
# grid on the command line: `openeie sweep -o sweep` (writes sweep.csv, sweep.json and the Pareto plots).

# %%
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import openeie
from openeie.flows.sweep import pareto_front

cache = os.environ.get("OPENEIE_EXAMPLES_CACHE", ".cache/openeie")
x_train, y_train, x_test, y_test = openeie.load_data("digits")
x, y = x_test[:100], y_test[:100]
rows = []
for code_bits in (2, 3, 4):
    net = openeie.compress("mlp", cache_dir=cache, code_bits=code_bits, prune_steps=1, prune_epochs=3,
                           finetune_epochs=2)
    for n_pe in (2, 4, 8):
        program = openeie.compile(net, openeie.EngineConfig(n_pe=n_pe), fit=True)
        sim = openeie.simulate(program, x)
        assert sim.matches_golden
        energy = openeie.energy(sim)
        rows.append({"code_bits": code_bits, "n_pe": n_pe, "accuracy": float(np.mean(sim.outputs.argmax(1) == y)),
                     "energy_nj": energy.total_nj, "cycles": float(sim.cycles.mean())})
        print(rows[-1])

# %%
front = [rows[i] for i in pareto_front(rows, "energy_nj", "accuracy")]
fig, ax = plt.subplots(figsize=(7, 4.5))
for n_pe, marker in ((2, "o"), (4, "s"), (8, "^")):
    pts = [r for r in rows if r["n_pe"] == n_pe]
    ax.scatter([r["energy_nj"] for r in pts], [r["accuracy"] for r in pts], marker=marker, label=f"{n_pe} PEs")
ax.plot([r["energy_nj"] for r in front], [r["accuracy"] for r in front], "k--", lw=1, label="Pareto front")
for r in front:
    ax.annotate(f"{r['code_bits']}-bit, {r['n_pe']} PEs", (r["energy_nj"], r["accuracy"]),
                textcoords="offset points", xytext=(5, -12), fontsize=8)
ax.set_xlabel("energy per inference (nJ, on chip)")
ax.set_ylabel("accuracy on 100 test images")
ax.set_title("digits MLP: weight code width x PE count")
ax.legend()
fig.tight_layout()
fig.savefig("pareto.png", dpi=120)
print(f"Pareto front: {[(r['code_bits'], r['n_pe']) for r in front]}; wrote pareto.png")

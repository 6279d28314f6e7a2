# %% [markdown]
# # Bring your own MLP
#
# Train a small PyTorch MLP on scikit-learn's handwritten digits, deep-compress it (pruning with retraining,
# trained k-means weight sharing), compile it into a 4-PE engine's memory images, and run it on the cycle model
# against the bit-exact golden model. Runs as a script or, with jupytext, as a notebook
# (`jupytext --to notebook 01_bring_your_own_mlp.py`).

# %%
import numpy as np
import torch
from torch import nn

import openeie

torch.manual_seed(0)
x_train, y_train, x_test, y_test = openeie.load_data("digits")      # 8x8 images as 64 features, fixed split

# %% [markdown]
# Your own architecture: any stack of `nn.Linear` and `nn.ReLU`.

# %%
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
xt, yt = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.int64)
for epoch in range(150):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(xt), yt)
    loss.backward()
    opt.step()
float_acc = float((model(torch.tensor(x_test, dtype=torch.float32)).argmax(1).numpy() == y_test).mean())
print(f"float model: {float_acc:.1%} on the test split")

# %% [markdown]
# Keep 25 % of the weights per layer, 4-bit weight codes.

# %%
net = openeie.compress(model, data=(x_train, y_train, x_test, y_test), density=0.25, code_bits=4,
                       prune_steps=2, prune_epochs=4, finetune_epochs=3)
print("accuracies while compressing:", {k: round(v, 3) for k, v in net.accuracy.items()})

program = openeie.compile(net, openeie.EngineConfig(n_pe=4), fit=True)
sim = openeie.simulate(program, x_test[:64])
assert sim.matches_golden                       # the cycle model's outputs equal the golden model's, bit for bit
engine_acc = float((sim.outputs.argmax(axis=1) == y_test[:64]).mean())
print(f"engine: {engine_acc:.1%} on 64 test images, {sim.cycles.mean():.0f} cycles per inference")

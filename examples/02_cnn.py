# %% [markdown]
# # A CNN on the engine
#
# A small convolutional network on the 8x8 digits (1 x 8 x 8 inputs): Conv2d + ReLU + MaxPool2d, then a fully
# connected classifier. OpenEIE lowers each convolution to the engine's patch-walking broadcast (see
# docs/engine.md, "Convolution layers"), compresses every layer, and the cycle model runs it bit-exactly against
# the golden model.

# %%
import numpy as np
import torch
from torch import nn

import openeie

torch.manual_seed(0)
x_train, y_train, x_test, y_test = openeie.load_data("digits")
model = nn.Sequential(
    nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8 x 4 x 4
    nn.Flatten(), nn.Linear(8 * 4 * 4, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
xt = torch.tensor(x_train, dtype=torch.float32).reshape(-1, 1, 8, 8)
yt = torch.tensor(y_train, dtype=torch.int64)
for epoch in range(150):
    opt.zero_grad()
    nn.functional.cross_entropy(model(xt), yt).backward()
    opt.step()

# %% [markdown]
# 8-bit codes for the convolution (as Deep Compression uses), 4-bit for the classifier; keep half the weights.

# %%
net = openeie.compress(model, data=(x_train, y_train, x_test, y_test), input_shape=(1, 8, 8), density=0.5,
                       code_bits=4, conv_code_bits=8, prune_steps=1, prune_epochs=3, finetune_epochs=2)
print("accuracies while compressing:", {k: round(v, 3) for k, v in net.accuracy.items()})
program = openeie.compile(net, openeie.EngineConfig(n_pe=4, code_bits=8, entries_per_word=5),
                         fit=True)     # 8-bit codes for conv1: 5 entries of 8 + 4 bits per 60-bit word
sim = openeie.simulate(program, x_test[:16])
assert sim.matches_golden
print(f"engine: {np.mean(sim.outputs.argmax(axis=1) == y_test[:16]):.0%} on 16 test images, "
      f"{sim.cycles.mean():.0f} cycles per inference")
for layer in sim.layers:          # per layer (nn.Sequential names them by index): mean over the inputs
    print(f"layer {layer['name']}: {np.mean(layer['cycles']):.0f} cycles, PE efficiency "
          f"{np.mean(layer['efficiency']):.2f}")

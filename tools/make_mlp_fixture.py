#!/usr/bin/env python3
"""Writes tests/fixtures/mlp.safetensors, the reference of tests/mlp_parity.rs, by hand (never by
CI), after `pip install torch safetensors`:

    python3 tools/make_mlp_fixture.py

LfF's MLP (docs/LFF.md: 2352 → 100 → 100 → 100 → 10 with ReLUs, their module names) in float64,
on 4 random uint8 images scaled as LfF does (ToTensor's /255, then /255 again in the forward
pass): the images (HWC) and labels, the logits, and every parameter's gradient of the mean
cross-entropy, stored as float32. The weights are not stored: the t-th tensor of
`named_parameters()` holds 0.05·sin(0.37·k + t) at flat index k, rounded to float32, which the
test computes the same way.
"""
import os

import torch
from safetensors.torch import save_file
from torch import nn
from torch_reference import MLP

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

net = MLP()
with torch.no_grad():
    for t, p in enumerate(net.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float64)
        p.copy_((0.05 * torch.sin(0.37 * k + t)).float().double().view_as(p))
images = torch.randint(0, 256, (4, 28, 28, 3), dtype=torch.uint8)
labels = torch.tensor([3, 0, 9, 3])
x = images.permute(0, 3, 1, 2).contiguous().double() / 255  # ToTensor: CHW in [0, 1]
logits = net(x)
nn.functional.cross_entropy(logits, labels).backward()
out = {"images": images, "labels": labels.to(torch.uint8), "logits": logits.detach().float()}
for name, p in net.named_parameters():
    out[name + ".grad"] = p.grad.float()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "mlp.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(path, os.path.getsize(path), "bytes; torch", torch.__version__)

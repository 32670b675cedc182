#!/usr/bin/env python3
"""Writes tests/fixtures/adam.safetensors, the reference of tests/adam_parity.rs, by hand (never by
CI), after `pip install torch safetensors`:

    python3 tools/make_adam_fixture.py

Two parameters (shapes (5,) and (3, 4)) take four steps of `torch.optim.Adam` in float64 (the
exact answer up to f64 rounding) with given gradients: lr 0.01, betas (0.9, 0.999), eps 1e-8,
weight decay 0.01; the second parameter has no gradient in step 3, which Adam skips. Stored:
the initial values, every step's gradients, and the values after each step, all as float32.
"""
import os

import torch
from safetensors.torch import save_file

torch.manual_seed(0)
out = {}
a = torch.randn(5, dtype=torch.float64)
b = torch.randn(3, 4, dtype=torch.float64)
out["a_initial"], out["b_initial"] = a.clone(), b.clone()
a, b = torch.nn.Parameter(a), torch.nn.Parameter(b)
optim = torch.optim.Adam([a, b], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
for step in range(4):
    optim.zero_grad(set_to_none=True)
    a.grad = torch.randn(5, dtype=torch.float64) * (10.0 ** -step)
    out[f"a_grad_{step}"] = a.grad.clone()
    if step != 2:
        b.grad = torch.randn(3, 4, dtype=torch.float64)
        out[f"b_grad_{step}"] = b.grad.clone()
    optim.step()
    out[f"a_after_{step}"] = a.detach().clone()
    out[f"b_after_{step}"] = b.detach().clone()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "adam.safetensors")
save_file({k: v.float().contiguous() for k, v in out.items()}, path)
print(path, os.path.getsize(path), "bytes; torch", torch.__version__)

#!/usr/bin/env python3
"""Writes the golden PyTorch reference for the engine's parity tests.

Run by hand (never by CI), after `pip install torch safetensors`:

    python3 tools/make_golden_fixtures.py tests/fixtures

For a fixed small batch and fixed weights it records, in PyTorch's layouts (NCHW, OIHW):
the forward outputs (φ, class logits, the three heads' logits) in training mode and, with set
running statistics, in evaluation mode; every parameter gradient of a baseline step, the
parameters after one baseline SGD step, and the parameters and batch-norm running statistics
after one complete LNTL iteration (docs/SPEC.md §3), after two (the momentum buffers carrying
the first into the second), after one BlindEye iteration (all in `golden.safetensors`), and both
networks after two LfF iterations on two conv nets (docs/LFF.md; in `golden_lff.safetensors`).

The initial weights are not stored: they follow a formula the Rust test computes too. The t-th
tensor of a module's `named_parameters()` holds 0.1·sin(0.37·k + t + offset) at flat index k
(PyTorch's layout), rounded to float32, batch norms' weights included: near PyTorch's 1, the
float32 spacing of a weight (1.2e-7) would be 1e-4 of its smallest update here, the tests'
tolerance. The offset is OFFSET for f and g and OFFSET + 10, + 20, + 30 for the red, green
and blue heads; running statistics start at PyTorch's 0 and 1. OFFSET = 61 was chosen, out of
0…299, as the one that keeps every ReLU's input farthest from zero (at least 5.1e-6 of the
largest input of that ReLU, in every stage): in a first version of the formula (offset 0,
batch-norm weights near 1) one input of BlindEye's green head sat 5e-6 from zero, the engine's
float32 rounding put it on the other side, and that head's update differed from the reference
by 1.8 %.

The reference is computed in float64 (the exact answer up to f64 rounding) and stored as
float32, so the Rust f32 engine is judged against the math, not against PyTorch's own float32
rounding. The learning rates are larger than in training so that one step's update stands
well above the float32 rounding of the parameters it changes. Each file is a safetensors file
with the metadata the Rust `TensorFile` reader checks (kind, version, CRC-32 of the tensor bytes
in name order).
"""
import os
import sys
import zlib

import torch
from safetensors.torch import save_file
from torch import nn
from torch_reference import GRL_SCALE, ConvNet, GradReverse, Head, confusion, neg_entropy

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)  # the batch and the bias labels
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

BATCH = 2
LR_BASELINE = 0.1
LR_LNTL = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
LAMBDA = 0.01
LFF_Q, LFF_ALPHA = 0.7, 0.7  # LfF's generalized cross-entropy q and loss-average decay
OFFSET = 61  # the initial weights' formula (docstring)


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def state(prefix, module, out):
    for name, t in module.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            out[f"{prefix}.{name}"] = t.detach().clone()


def set_sines(module, offset):
    """The initial weights' formula (this file's docstring)."""
    with torch.no_grad():
        for t, p in enumerate(module.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.1 * torch.sin(0.37 * k + t + offset)).float().double().view_as(p))


def fresh():
    """f and g and the three heads at the initial weights."""
    net = ConvNet()
    set_sines(net, OFFSET)
    heads = [Head() for _ in range(3)]
    for i, h in enumerate(heads):
        set_sines(h, OFFSET + 10 * (i + 1))
    return net, heads


def optimizers(net, heads):
    """One SGD per network, as the authors' trainer has them: f and g, then each head."""
    return [sgd(net.parameters(), LR_LNTL)] + [sgd(h.parameters(), LR_LNTL) for h in heads]


def adversarial_iteration(net, heads, all_opts, x, labels, bias, regularizer, reverse):
    """Phase 1: f, g step on CE + λ·regularizer(heads(φ)). Phase 2: f re-run; the heads learn the
    colors, through a gradient reversal into f (LNTL) or on detached φ (BlindEye)."""
    opt, opt_heads = all_opts[0], all_opts[1:]
    for o in all_opts:
        o.zero_grad()
    phi, logits = net(x)
    loss1 = nn.functional.cross_entropy(logits, labels)
    loss1 = loss1 + LAMBDA * sum(regularizer(h(phi)) for h in heads) / 3.0
    loss1.backward()
    opt.step()
    for o in all_opts:
        o.zero_grad()
    phi, _ = net(x)
    features = GradReverse.apply(phi, GRL_SCALE) if reverse else phi.detach()
    loss2 = sum(
        nn.functional.cross_entropy(h(features), bias[:, i].long(), ignore_index=255)
        for i, h in enumerate(heads)
    )
    loss2.backward()
    for o in all_opts if reverse else opt_heads:
        o.step()
    return loss1, loss2


def write(tensors, path):
    """Writes float32 (and uint8) tensors with the metadata `TensorFile` checks."""
    tensors = {
        k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()
    }
    crc = 0
    for name in sorted(tensors):
        crc = zlib.crc32(tensors[name].numpy().tobytes(), crc)
    meta = {"kind": "lntl-golden", "version": "1", "crc32": f"{crc:08x}", "torch": torch.__version__}
    save_file(tensors, path, metadata=meta)
    print(f"wrote {path}: {len(tensors)} tensors, torch {torch.__version__}")


def main(directory):
    out = {}
    x = torch.randn(BATCH, 3, 28, 28)
    labels = torch.tensor([3, 7][:BATCH])
    bias = torch.randint(0, 8, (BATCH, 3, 14, 14))
    bias[:, :, :5, :] = 255  # some "no label" positions
    out["input.x"] = x
    out["input.labels"] = labels.to(torch.uint8)
    out["input.bias"] = bias.to(torch.uint8)

    # Forward outputs (training mode) and one baseline step.
    net, heads = fresh()
    opt = sgd(net.parameters(), LR_BASELINE)
    phi, logits = net(x)
    out["forward.phi"] = phi.detach().clone()
    out["forward.logits"] = logits.detach().clone()
    for c, h in zip("rgb", heads):
        out[f"forward.heads.{c}"] = h(phi).detach().clone()
    loss = nn.functional.cross_entropy(logits, labels)
    opt.zero_grad()
    loss.backward()
    out["baseline.loss"] = loss.detach().reshape(1)
    for name, p in net.named_parameters():
        out[f"baseline.grad.{name}"] = p.grad.detach().clone()
    opt.step()
    state("baseline.after.net", net, out)

    # One LNTL iteration, as docs/SPEC.md §3 and the authors' trainer do it, and one BlindEye
    # iteration: heads learn the colors on detached φ; f, g learn the digit and confuse the heads.
    for stage, regularizer, reverse in [("lntl", neg_entropy, True), ("blindeye", confusion, False)]:
        net, heads = fresh()
        opts = optimizers(net, heads)
        loss1, loss2 = adversarial_iteration(net, heads, opts, x, labels, bias, regularizer, reverse)
        out[f"{stage}.loss1"] = loss1.detach().reshape(1)
        out[f"{stage}.loss2"] = loss2.detach().reshape(1)
        state(f"{stage}.after.net", net, out)
        for c, h in zip("rgb", heads):
            state(f"{stage}.after.heads.{c}", h, out)

    # A second LNTL iteration on the same optimizers, so that every momentum buffer (f, g and
    # the heads') carries the first iteration into the second: "lntl2.after" is the state
    # after both.
    net, heads = fresh()
    opts = optimizers(net, heads)
    for _ in range(2):
        loss1, loss2 = adversarial_iteration(net, heads, opts, x, labels, bias, neg_entropy, True)
    out["lntl2.loss1"] = loss1.detach().reshape(1)
    out["lntl2.loss2"] = loss2.detach().reshape(1)
    state("lntl2.after.net", net, out)
    for c, h in zip("rgb", heads):
        state(f"lntl2.after.heads.{c}", h, out)

    # Two LfF iterations (docs/LFF.md, "LfF on LNTL's benchmark") with the batch as training
    # samples 0 and 1: f_B and f_D both start from the initial network, each with its own SGD at
    # the baseline's rate; f_B learns from the generalized cross-entropy, f_D from the
    # cross-entropy weighted by the relative difficulty of the per-sample loss averages.
    lff = {k: v for k, v in out.items() if k.startswith("input.")}
    biased, _ = fresh()
    debiased, _ = fresh()
    opt_b, opt_d = sgd(biased.parameters(), LR_BASELINE), sgd(debiased.parameters(), LR_BASELINE)
    average_b, average_d, seen = torch.zeros(BATCH), torch.zeros(BATCH), torch.zeros(BATCH)
    for _ in range(2):
        _, logit_b = biased(x)
        _, logit_d = debiased(x)
        ce_b = nn.functional.cross_entropy(logit_b, labels, reduction="none")
        ce_d = nn.functional.cross_entropy(logit_d, labels, reduction="none")
        average_b = LFF_ALPHA * average_b + (1 - LFF_ALPHA * seen) * ce_b.detach()
        average_d = LFF_ALPHA * average_d + (1 - LFF_ALPHA * seen) * ce_d.detach()
        seen = torch.ones(BATCH)
        normalized_b, normalized_d = average_b.clone(), average_d.clone()
        for c in labels.unique():
            in_class = labels == c
            normalized_b[in_class] /= average_b[in_class].max()
            normalized_d[in_class] /= average_d[in_class].max()
        weight = normalized_b / (normalized_b + normalized_d + 1e-8)
        p_y = torch.softmax(logit_b, 1).gather(1, labels.unsqueeze(1)).squeeze(1)
        loss_b = (ce_b * p_y.detach() ** LFF_Q * LFF_Q).mean()
        loss_d = (ce_d * weight).mean()
        opt_b.zero_grad()
        opt_d.zero_grad()
        (loss_b + loss_d).backward()
        opt_b.step()
        opt_d.step()
    lff["lff.biased_loss"] = loss_b.detach().reshape(1)
    lff["lff.debiased_loss"] = loss_d.detach().reshape(1)
    state("lff_biased.after.net", biased, lff)
    state("lff_debiased.after.net", debiased, lff)

    # Evaluation mode: the batch norms normalize with running statistics far from the initial
    # 0 and 1 (and from the batch's own), so that a wrong formula for them shows.
    net, heads = fresh()
    stats = torch.Generator().manual_seed(1)
    for prefix, bn in [("eval.net.bn0", net.bn0)] + [
        (f"eval.heads.{c}.bn", h.bn) for c, h in zip("rgb", heads)
    ]:
        n = bn.num_features
        bn.running_mean.copy_(torch.randn(n, generator=stats) * 0.5)
        bn.running_var.copy_(torch.rand(n, generator=stats) * 3.0 + 0.1)
        out[f"{prefix}.running_mean"] = bn.running_mean.clone()
        out[f"{prefix}.running_var"] = bn.running_var.clone()
    net.eval()
    with torch.no_grad():
        phi, logits = net(x)
        out["eval.phi"] = phi.clone()
        out["eval.logits"] = logits.clone()
        for c, h in zip("rgb", heads):
            h.eval()
            out[f"eval.heads.{c}"] = h(phi).clone()

    write(out, os.path.join(directory, "golden.safetensors"))
    write(lff, os.path.join(directory, "golden_lff.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])

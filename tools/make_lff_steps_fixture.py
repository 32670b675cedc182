#!/usr/bin/env python3
"""Writes tests/fixtures/lff_steps.safetensors, the reference of tests/lff_steps_parity.rs, by hand
(never by CI), after `pip install torch safetensors`:

    python3 tools/make_lff_steps_fixture.py

Two iterations of each method on LfF's benchmark, in float64, each model with Adam at 1e-3:
vanilla (the mean cross-entropy, LfF's `train_vanilla.py`); Group DRO (written after
`LossComputer.compute_robust_loss` and `compute_group_avg` in kohpangwei/group_DRO's loss.py,
without the adjustment, step size 0.01, over 100 (digit, color) groups, the colors chosen so
that each batch holds groups of two samples beside groups of one); and
the LfF step (docs/LFF.md §3, written after LfF's `train.py`, `util.py`'s EMA and
`module/loss.py`'s GeneralizedCELoss); and LNTL with an image-level color head on the MLP
(docs/LFF.md: phase 1 the digit loss plus λ × the head's mean negative entropy, an Adam step on
the MLP; phase 2 the head's color cross-entropy through a gradient reversal of μ, a second step
of the MLP's Adam, where the classifier has no gradient, and one of the head's; λ = 1 and
μ = 0.5). The training set: 10 random uint8 images, the batches of
samples 0..5 and then 4..9 (samples 4 and 5 are seen twice). Stored as float32: the images,
labels and colors; the four models' parameters after the two steps (each first layer at every
11th flat index, with its sum); both per-sample loss averages; each step's losses, LfF's
weights, Group DRO's group weights and LNTL's three losses. The initial weights are not stored:
the t-th tensor of `named_parameters()` holds 0.05·sin(0.37·k + t) at flat index k for f_B and
the vanilla, Group DRO and LNTL models, 0.05·sin(0.37·k + t + 10) for f_D and
0.5·sin(0.37·k + t + 20) for LNTL's color head, rounded to float32; the test computes them the
same way.
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from torch_reference import MLP, GradReverse

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
Q, ALPHA = 0.7, 0.7
# LNTL's λ and μ: stronger than the paper's 0.01 and 0.1 so that both terms move every weight by
# more than the test's tolerance.
LAMBDA, MU = 1.0, 0.5


def make_model(offset):
    net = MLP()
    with torch.no_grad():
        for t, p in enumerate(net.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.05 * torch.sin(0.37 * k + t + offset)).float().double().view_as(p))
    return net


class EMA:  # util.py
    def __init__(self, label, alpha):
        self.label, self.alpha = label, alpha
        self.parameter = torch.zeros(label.size(0))
        self.updated = torch.zeros(label.size(0))

    def update(self, data, index):
        self.parameter[index] = self.alpha * self.parameter[index] + (1 - self.alpha * self.updated[index]) * data
        self.updated[index] = 1

    def max_loss(self, label):
        return self.parameter[self.label == label].max()


def gce(logits, targets):  # module/loss.py, GeneralizedCELoss(q=0.7)
    p = F.softmax(logits, dim=1)
    yg = torch.gather(p, 1, targets.unsqueeze(1))
    return F.cross_entropy(logits, targets, reduction="none") * (yg.squeeze().detach() ** Q) * Q


images = torch.randint(0, 256, (10, 28, 28, 3), dtype=torch.uint8)
labels = torch.tensor([3, 0, 9, 3, 1, 0, 3, 9, 1, 0])
x_all = images.permute(0, 3, 1, 2).contiguous().double() / 255  # ToTensor: CHW in [0, 1]
model_b, model_d = make_model(0), make_model(10)
optimizer_b = torch.optim.Adam(model_b.parameters(), lr=1e-3)
optimizer_d = torch.optim.Adam(model_d.parameters(), lr=1e-3)
ema_b, ema_d = EMA(labels, ALPHA), EMA(labels, ALPHA)
out = {"images": images, "labels": labels.to(torch.uint8)}
for step, index in enumerate([torch.arange(0, 6), torch.arange(4, 10)], start=1):
    data, label = x_all[index], labels[index]
    logit_b, logit_d = model_b(data), model_d(data)
    ema_b.update(F.cross_entropy(logit_b, label, reduction="none").detach(), index)
    ema_d.update(F.cross_entropy(logit_d, label, reduction="none").detach(), index)
    loss_b = ema_b.parameter[index].clone()
    loss_d = ema_d.parameter[index].clone()
    for c in range(10):
        class_index = torch.where(label == c)[0]
        if len(class_index):
            loss_b[class_index] /= ema_b.max_loss(c)
            loss_d[class_index] /= ema_d.max_loss(c)
    weight = loss_b / (loss_b + loss_d + 1e-8)
    loss_b_update = gce(logit_b, label).mean()
    loss_d_update = (F.cross_entropy(logit_d, label, reduction="none") * weight).mean()
    optimizer_b.zero_grad()
    optimizer_d.zero_grad()
    (loss_b_update + loss_d_update).backward()
    optimizer_b.step()
    optimizer_d.step()
    out[f"step{step}.weights"] = weight.float()
    out[f"step{step}.biased_loss"] = loss_b_update.detach().float().reshape(1)
    out[f"step{step}.debiased_loss"] = loss_d_update.detach().float().reshape(1)
out["biased_averages"] = ema_b.parameter.float()
out["debiased_averages"] = ema_d.parameter.float()
vanilla = make_model(0)
optimizer = torch.optim.Adam(vanilla.parameters(), lr=1e-3)
for step, index in enumerate([torch.arange(0, 6), torch.arange(4, 10)], start=1):
    loss = F.cross_entropy(vanilla(x_all[index]), labels[index])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    out[f"vanilla.step{step}.loss"] = loss.detach().float().reshape(1)
# Batch 1 (samples 0..5) holds groups 34 and 5 twice, batch 2 (4..9) group 15 twice: a group's
# mean loss and its rows' weights must divide by counts above 1.
colors = torch.tensor([4, 5, 2, 4, 5, 5, 4, 0, 5, 3])
dro = make_model(0)
optimizer = torch.optim.Adam(dro.parameters(), lr=1e-3)
adv_probs = torch.ones(100) / 100
for step, index in enumerate([torch.arange(0, 6), torch.arange(4, 10)], start=1):
    losses = F.cross_entropy(dro(x_all[index]), labels[index], reduction="none")
    group_idx = labels[index] * 10 + colors[index]
    group_map = (group_idx == torch.arange(100).unsqueeze(1)).double()
    group_count = group_map.sum(1)
    group_loss = (group_map @ losses) / (group_count + (group_count == 0).double())
    adv_probs = adv_probs * torch.exp(0.01 * group_loss.detach())
    adv_probs = adv_probs / adv_probs.sum()
    robust_loss = group_loss @ adv_probs
    optimizer.zero_grad()
    robust_loss.backward()
    optimizer.step()
    out[f"group_dro.step{step}.loss"] = robust_loss.detach().float().reshape(1)
    out[f"group_dro.step{step}.q"] = adv_probs.float()
out["colors"] = colors.to(torch.uint8)


lntl = make_model(0)
head = nn.Linear(100, 10)
with torch.no_grad():
    for t, p in enumerate(head.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float64)
        p.copy_((0.5 * torch.sin(0.37 * k + t + 20)).float().double().view_as(p))
optimizer = torch.optim.Adam(lntl.parameters(), lr=1e-3)
optimizer_head = torch.optim.Adam(head.parameters(), lr=1e-3)
for step, index in enumerate([torch.arange(0, 6), torch.arange(4, 10)], start=1):
    x = x_all[index].view(len(index), -1) / 255
    optimizer.zero_grad()
    optimizer_head.zero_grad()
    phi = lntl.feature(x)
    head_logits = head(phi)
    neg_entropy = (F.softmax(head_logits, 1) * F.log_softmax(head_logits, 1)).sum(1).mean()
    loss = F.cross_entropy(lntl.classifier(phi), labels[index])
    (loss + LAMBDA * neg_entropy).backward()
    optimizer.step()
    optimizer.zero_grad()
    optimizer_head.zero_grad()
    color_loss = F.cross_entropy(head(GradReverse.apply(lntl.feature(x), MU)), colors[index])
    color_loss.backward()
    optimizer.step()
    optimizer_head.step()
    out[f"lntl.step{step}.loss"] = loss.detach().float().reshape(1)
    out[f"lntl.step{step}.regularizer"] = neg_entropy.detach().float().reshape(1)
    out[f"lntl.step{step}.color_loss"] = color_loss.detach().float().reshape(1)
for name, p in head.named_parameters():
    out[f"lntl.color_head.{name}"] = p.detach().flatten().float()
for prefix, net in [("biased", model_b), ("debiased", model_d), ("vanilla", vanilla), ("group_dro", dro), ("lntl", lntl)]:
    for name, p in net.named_parameters():
        # The first layer (235,200 weights) is kept at every 11th flat index, with its sum, so
        # that the fixture stays small.
        flat = p.detach().flatten()
        if flat.numel() > 10_000:
            out[f"{prefix}.{name}.every11"] = flat[::11].float()
            out[f"{prefix}.{name}.sum"] = flat.sum().float().reshape(1)
        else:
            out[f"{prefix}.{name}"] = flat.float()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "lff_steps.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(path, os.path.getsize(path), "bytes; torch", torch.__version__)

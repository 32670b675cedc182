#!/usr/bin/env python3
"""Writes the golden PyTorch reference for the engine's parity tests.

Run by hand (never by CI), after `pip install torch safetensors`:

    python3 tools/make_golden_fixtures.py tests/fixtures/golden.safetensors

For a fixed small batch and fixed weights it records, in PyTorch's layouts (NCHW, OIHW):
the forward outputs (φ, class logits, the three heads' logits), every parameter gradient of a
baseline step, the parameters after one baseline SGD step, and the parameters and batch-norm
running statistics after one complete LNTL iteration (SPEC.md §3) and after one BlindEye
iteration.

The reference is computed in float64 (the exact answer up to f64 rounding) and stored as
float32, so the Rust f32 engine is judged against the math, not against PyTorch's own float32
rounding. The learning rates are larger than in training so that one step's update stands
well above the float32 rounding of the parameters it changes. The file is a safetensors file with the metadata the Rust `TensorFile` reader checks
(kind, version, CRC-32 of the tensor bytes in name order).
"""
import sys
import zlib

import torch
from safetensors.torch import save_file
from torch import nn

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

BATCH = 2
LR_BASELINE = 0.1
LR_LNTL = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
LAMBDA = 0.01
GRL_SCALE = 0.1


class ConvNet(nn.Module):
    """f and g as SPEC.md §2 describes them."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv1 = nn.Conv2d(3, 32, 5, 1, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.conv2 = nn.Conv2d(32, 32, 3, 1, 1)
        self.conv3 = nn.Conv2d(32, 64, 3, 2, 1)
        self.conv4 = nn.Conv2d(64, 64, 3, 1, 1)
        self.fc = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, (2.0 / n) ** 0.5)

    def forward(self, x):
        x = torch.relu(self.conv1(self.bn0(x)))
        phi = torch.relu(self.conv2(self.pool(x)))
        x = torch.relu(self.conv4(torch.relu(self.conv3(phi))))
        return phi, self.fc(x.mean(dim=(2, 3)))


class Head(nn.Module):
    """One bias head: conv 32→32, BN, ReLU, conv 32→8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(32, 32, 3, 1, 1)
        self.bn = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 8, 3, 1, 1)

    def forward(self, x):
        return self.conv2(torch.relu(self.bn(self.conv1(x))))


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -GRL_SCALE * g


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def state(prefix, module, out):
    for name, t in module.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            out[f"{prefix}.{name}"] = t.detach().clone()


def fresh(init_net, init_heads):
    net = ConvNet()
    net.load_state_dict(init_net)
    heads = [Head() for _ in range(3)]
    for h, s in zip(heads, init_heads):
        h.load_state_dict(s)
    return net, heads


def neg_entropy(logits):
    p = torch.softmax(logits, dim=1)
    return torch.mean(torch.sum(p * torch.log_softmax(logits, dim=1), dim=1))


def main(path):
    out = {}
    x = torch.randn(BATCH, 3, 28, 28)
    labels = torch.tensor([3, 7][:BATCH])
    bias = torch.randint(0, 8, (BATCH, 3, 14, 14))
    bias[:, :, :5, :] = 255  # some "no label" positions
    out["input.x"] = x
    out["input.labels"] = labels.to(torch.uint8)
    out["input.bias"] = bias.to(torch.uint8)

    net = ConvNet()
    heads = [Head() for _ in range(3)]
    init_net = {k: v.clone() for k, v in net.state_dict().items()}
    init_heads = [{k: v.clone() for k, v in h.state_dict().items()} for h in heads]
    state("init.net", net, out)
    for c, h in zip("rgb", heads):
        state(f"init.heads.{c}", h, out)

    # Forward outputs (training mode) and one baseline step.
    net, heads = fresh(init_net, init_heads)
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

    # One LNTL iteration, as SPEC.md §3 and the authors' trainer do it.
    net, heads = fresh(init_net, init_heads)
    opt = sgd(net.parameters(), LR_LNTL)
    opt_heads = [sgd(h.parameters(), LR_LNTL) for h in heads]
    all_opts = [opt] + opt_heads
    for o in all_opts:
        o.zero_grad()
    phi, logits = net(x)
    ce = nn.functional.cross_entropy(logits, labels)
    ent = sum(neg_entropy(h(phi)) for h in heads) / 3.0
    (ce + LAMBDA * ent).backward()
    opt.step()
    out["lntl.loss1"] = (ce + LAMBDA * ent).detach().reshape(1)
    for o in all_opts:
        o.zero_grad()
    phi, _ = net(x)
    rev = GradReverse.apply(phi)
    loss2 = sum(
        nn.functional.cross_entropy(h(rev), bias[:, i].long(), ignore_index=255)
        for i, h in enumerate(heads)
    )
    loss2.backward()
    for o in all_opts:
        o.step()
    out["lntl.loss2"] = loss2.detach().reshape(1)
    state("lntl.after.net", net, out)
    for c, h in zip("rgb", heads):
        state(f"lntl.after.heads.{c}", h, out)

    # One BlindEye iteration: heads learn the colors on detached φ; f,g learn the digit and
    # confuse the heads (cross-entropy to the uniform distribution over the 8 bins).
    net, heads = fresh(init_net, init_heads)
    opt = sgd(net.parameters(), LR_LNTL)
    opt_heads = [sgd(h.parameters(), LR_LNTL) for h in heads]
    all_opts = [opt] + opt_heads
    for o in all_opts:
        o.zero_grad()
    phi, logits = net(x)
    ce = nn.functional.cross_entropy(logits, labels)
    conf = sum(-torch.log_softmax(h(phi), dim=1).mean(dim=1).mean() for h in heads) / 3.0
    (ce + LAMBDA * conf).backward()
    opt.step()
    for o in all_opts:
        o.zero_grad()
    phi, _ = net(x)
    loss2 = sum(
        nn.functional.cross_entropy(h(phi.detach()), bias[:, i].long(), ignore_index=255)
        for i, h in enumerate(heads)
    )
    loss2.backward()
    for o in opt_heads:
        o.step()
    out["blindeye.loss1"] = (ce + LAMBDA * conf).detach().reshape(1)
    out["blindeye.loss2"] = loss2.detach().reshape(1)
    state("blindeye.after.net", net, out)
    for c, h in zip("rgb", heads):
        state(f"blindeye.after.heads.{c}", h, out)

    tensors = {
        k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in out.items()
    }
    crc = 0
    for name in sorted(tensors):
        crc = zlib.crc32(tensors[name].numpy().tobytes(), crc)
    meta = {"kind": "lntl-golden", "version": "1", "crc32": f"{crc:08x}", "torch": torch.__version__}
    save_file(tensors, path, metadata=meta)
    print(f"wrote {path}: {len(tensors)} tensors, torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])

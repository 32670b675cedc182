#!/usr/bin/env python3
"""PyTorch reference timings of the steps `lntl bench` times: the forward pass of f and g, a
baseline step, an LNTL iteration (the authors' structure: three separate heads and optimizers,
f re-run in phase 2), and inference on 10,000 images, at the same batch size and thread count;
`--step` selects some of them. Prints one JSON object. Needs `pip install torch`; run by
`bench/compare.sh`, never by CI."""
import argparse
import json
import pathlib
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
from torch_reference import GRL_SCALE, ConvNet, GradReverse, Head, neg_entropy  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--runs", type=int, default=10)
parser.add_argument("--step", action="append", choices=["forward", "baseline", "lntl", "inference"],
                    help="time only this step (repeat for several; all four when absent)")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)


net = ConvNet()
heads = [Head() for _ in range(3)]
sgd = dict(lr=0.001, momentum=0.9, weight_decay=5e-4)
opt = torch.optim.SGD(net.parameters(), **sgd)
opt_heads = [torch.optim.SGD(h.parameters(), **sgd) for h in heads]
x = torch.randn(args.batch, 3, 28, 28)
labels = torch.randint(0, 10, (args.batch,))
bias = torch.randint(0, 8, (args.batch, 3, 14, 14))


def forward():
    net.eval()
    with torch.no_grad():
        net(x)
    net.train()


TEST_IMAGES = 10_000
last = torch.randn(TEST_IMAGES % args.batch, 3, 28, 28)


def inference_10k():
    """Classifies 10,000 images (the test set's size) in batches of the benchmark's size."""
    net.eval()
    with torch.no_grad():
        for _ in range(TEST_IMAGES // args.batch):
            net(x)
        if len(last):
            net(last)
    net.train()


def baseline_step():
    opt.zero_grad()
    _, logits = net(x)
    nn.functional.cross_entropy(logits, labels).backward()
    opt.step()


def lntl_step():
    for o in [opt] + opt_heads:
        o.zero_grad()
    phi, logits = net(x)
    ent = sum(neg_entropy(h(phi)) for h in heads) / 3
    (nn.functional.cross_entropy(logits, labels) + 0.01 * ent).backward()
    opt.step()
    for o in [opt] + opt_heads:
        o.zero_grad()
    phi, _ = net(x)
    rev = GradReverse.apply(phi, GRL_SCALE)
    sum(
        nn.functional.cross_entropy(h(rev), bias[:, i], ignore_index=255)
        for i, h in enumerate(heads)
    ).backward()
    for o in [opt] + opt_heads:
        o.step()


def time_ms(f):
    """Median and fastest of `--runs` timed runs after one warm-up run, in ms (as `lntl bench`)."""
    f()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)


# Keys as in `lntl bench --json`: the flat median, and the step's object with its fastest run.
STEPS = {
    "forward": ("forward", forward),
    "baseline": ("baseline_step", baseline_step),
    "lntl": ("lntl_step", lntl_step),
    "inference": ("inference_10k", inference_10k),
}
report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch}
for step, (key, f) in STEPS.items():
    if args.step is None or step in args.step:
        median, fastest = time_ms(f)
        report[f"{key}_ms"] = median
        report[key] = {"median_ms": median, "min_ms": fastest}
print(json.dumps(report))

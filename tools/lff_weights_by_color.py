#!/usr/bin/env python3
"""Where LfF's weight goes on LNTL's σ² benchmark (docs/LFF.md, "LfF on LNTL's benchmark"), run
by hand after `pip install numpy safetensors`:

    python3 tools/lff_weights_by_color.py RUN_DIR DATASET

RUN_DIR is a finished `lntl train --method lff --var σ²` run (its checkpoint.safetensors holds
both models' per-sample loss averages e_B, e_D over the training digits); DATASET is the
Colored-MNIST it trained on (`lntl data make --var σ²` prints its path). The script recomputes
LfF's weight of every training digit, W = ẽ_B / (ẽ_B + ẽ_D + 1e-8) with ẽ = e / (the largest e
of the digit's class) (docs/LFF.md §3), reads each digit's color (its foreground is one flat
color), and prints the mean weight by how far that color lies from its class's palette color,
and for the digits whose color is nearer another class's palette color than their own: the only
digits of this benchmark whose color points to a wrong class, its nearest analogue of LfF's
bias-conflicting digits.
"""
import json
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

# docs/SPEC.md §1's palette (src/colored/palette.rs), one RGB color per digit class.
PALETTE = np.array(
    [
        [220, 20, 60], [0, 128, 128], [253, 233, 16], [0, 149, 182], [237, 145, 33],
        [145, 30, 188], [70, 240, 240], [250, 197, 187], [210, 245, 60], [128, 0, 0],
    ],
    dtype=np.float64,
)


def read_tensors(path):
    """The tensors of a safetensors file, the boolean `#seen` masks (U8) included."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    dtypes = {"F32": np.float32, "U8": np.uint8}
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in dtypes:
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def normalized(averages, labels):
    """ẽ = e / max over the digit's class of e (unvisited digits count as 0, as in training)."""
    out = np.empty_like(averages)
    for c in range(10):
        of_class = labels == c
        out[of_class] = averages[of_class] / averages[of_class].max()
    return out


def main(run_dir, dataset):
    checkpoint = read_tensors(f"{run_dir}/checkpoint.safetensors")
    e_b = checkpoint["biased_losses"].astype(np.float64) * checkpoint["biased_losses#seen"]
    e_d = checkpoint["debiased_losses"].astype(np.float64) * checkpoint["debiased_losses#seen"]
    n = len(e_b)
    data = load_file(dataset)
    # A run trains on the first n training digits (with --validation, all but the last 10,000).
    labels = data["train_labels"][:n].astype(np.int64)
    images = data["train_images"][:n].reshape(n, -1, 3).astype(np.float64)
    # The flat foreground color: the brightest pixel by channel sum is a foreground one.
    colors = images[np.arange(n), images.sum(axis=2).argmax(axis=1)] / 255.0
    palette = PALETTE / 255.0
    nb, nd = normalized(e_b, labels), normalized(e_d, labels)
    weight = nb / (nb + nd + 1e-8)
    distance = np.linalg.norm(colors - palette[labels], axis=1)
    nearest = np.linalg.norm(colors[:, None, :] - palette[None], axis=2).argmin(axis=1)
    misleading = nearest != labels

    print(f"{n} training digits; mean weight {weight.mean():.3f} (median {np.median(weight):.3f})")
    print("\n| color's distance from its class's palette color (decile) | digits | mean weight |")
    print("|---|---|---|")
    edges = np.quantile(distance, np.linspace(0, 1, 11))
    for i in range(10):
        inside = (distance >= edges[i]) & (distance <= edges[i + 1] if i == 9 else distance < edges[i + 1])
        print(f"| {edges[i]:.3f}–{edges[i + 1]:.3f} | {inside.sum()} | {weight[inside].mean():.3f} |")
    # A loss average below ln 2 means the model gives the right class more than half (about).
    print(
        "\n| digits | count | mean weight | share of the 1 % heaviest | f_B's average loss < ln 2 "
        "| f_D's average loss < ln 2 |"
    )
    print("|---|---|---|---|---|---|")
    heaviest = weight >= np.quantile(weight, 0.99)
    for name, subset in [("color nearest another class's", misleading), ("color nearest its own class's", ~misleading)]:
        print(
            f"| {name} | {subset.sum()} | {weight[subset].mean():.3f} "
            f"| {(subset & heaviest).sum() / heaviest.sum():.3f} "
            f"| {(e_b[subset] < np.log(2)).mean():.3f} | {(e_d[subset] < np.log(2)).mean():.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

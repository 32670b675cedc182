#!/usr/bin/env python3
"""Checks a file written by `lntl export --format pytorch` in PyTorch, by hand (never by CI),
after `pip install torch safetensors numpy`:

    python3 tools/check_pytorch_export.py EXPORT.safetensors mnist_10color_jitter_var_0.020.npy

Loads the export into `tools/lntl_networks.py`'s `LntlNetworks` with strict=True, evaluates f
and g in evaluation mode on the test split of the authors' `.npy` file (`lntl data make --var
0.020 --format original-npy` writes one) and prints the accuracy, to compare with `lntl test`'s
on the same checkpoint and data.
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lntl_networks import LntlNetworks, normalize  # noqa: E402


def main(export, npy):
    model = LntlNetworks()
    model.load_state_dict(load_file(export), strict=True)
    model.eval()
    data = np.load(npy, allow_pickle=True, encoding="latin1").item()
    images, labels = data["test_image"], torch.as_tensor(data["test_label"].astype(np.int64))
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            _, logits = model.net(normalize(images[start:start + 1000]))
            correct += (logits.argmax(1) == labels[start:start + 1000]).sum().item()
    print(f"torch {torch.__version__}: strict load ok, test accuracy {correct / len(images):.4f} "
          f"({correct}/{len(images)})")


if __name__ == "__main__":
    main(*sys.argv[1:3])

#!/usr/bin/env python3
"""Writes tests/fixtures/original_tiny_protocol{2,4}/mnist_10color_jitter_var_0.030.npy: the
authors' Colored-MNIST layout (a 0-d object array holding a dict, as data_loader.py reads it) for
3 training and 2 test digits, an .npy header written by numpy and the array pickled with protocol
2 (Python 2's, which the authors' files use) and 4 (what np.save uses in numpy 2). The
values follow formulas that the tests in src/colored/original_npy.rs compute on their own:
train_image[i] = (i * 7 + 3) % 256 over the flattened array, test_image[i] = (i * 11 + 5) % 256,
test_gray[i] = (i * 13) % 256, train_label = [0, 9, 4], test_label = [7, 1] (int8).

Usage: python3 tools/make_npy_fixtures.py   (needs numpy; run by hand, never by CI)
"""
import pathlib
import pickle

import numpy as np

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def pattern(shape, step, offset):
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.int64) * step + offset) % 256).astype(np.uint8).reshape(shape)


data = {
    "train_image": pattern((3, 28, 28, 3), 7, 3),
    "train_label": np.array([0, 9, 4], dtype=np.int8),
    "test_image": pattern((2, 28, 28, 3), 11, 5),
    "test_label": np.array([7, 1], dtype=np.int8),
    "test_gray": pattern((2, 28, 28), 13, 0),
}
for protocol in (2, 4):
    path = out / f"original_tiny_protocol{protocol}" / "mnist_10color_jitter_var_0.030.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.array(data, dtype=object)
    with open(path, "wb") as f:
        # What np.lib.format.write_array does for object arrays, with our choice of protocol.
        np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(array))
        pickle.dump(array, f, protocol=protocol)
    print(f"{path}: {path.stat().st_size} bytes, numpy {np.__version__}")

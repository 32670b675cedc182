#!/usr/bin/env python3
"""Checks by hand that a file written by `lntl data make --format original-npy` loads the way the
authors' PyTorch code loads it (data_loader.py: np.load(..., encoding='latin1').item()).

Usage: python3 tools/check_original_npy.py PATH/mnist_10color_jitter_var_0.020.npy
Needs numpy (pip install numpy). Run by hand, never by CI.
"""
import sys
import warnings

import numpy as np

warnings.simplefilter("error")  # a deprecated module path in the pickle would fail here

path = sys.argv[1]
for kwargs in ({"allow_pickle": True, "encoding": "latin1"}, {"allow_pickle": True}):
    d = np.load(path, **kwargs).item()
    expected = {
        "train_image": ((60000, 28, 28, 3), np.uint8),
        "train_label": ((60000,), np.int8),
        "test_image": ((10000, 28, 28, 3), np.uint8),
        "test_label": ((10000,), np.int8),
        "test_gray": ((10000, 28, 28), np.uint8),
    }
    for key, (shape, dtype) in expected.items():
        assert d[key].shape == shape and d[key].dtype == dtype, (key, d[key].shape, d[key].dtype)
    assert (d["train_label"] == 0).sum() == 5923 and (d["test_label"] == 0).sum() == 980
    # Foreground = gray > 128, painted in one color; background black.
    fg = d["test_gray"] > 128
    assert (d["test_image"][~fg] == 0).all()
    print(f"ok with {kwargs}: numpy {np.__version__}")

"""Writes the small Keras-format IMDB files the npz loader's tests read.

Keras' imdb.npz holds x_train/x_test as object arrays of lists of word ranks (1 is the
most frequent word) and y_train/y_test as integer labels; numpy pickles the object
arrays inside the .npy members. Run with numpy installed:

    python3 scripts/make_imdb_npz_fixture.py dpsgd-runtime/testdata
"""
import sys

import numpy as np

out = sys.argv[1]
x_train = np.empty(3, dtype=object)
x_train[:] = [[1, 14, 22, 16], [5, 20000, 9999, 10000, 10001, 3, 7], [300]]
x_test = np.empty(2, dtype=object)
x_test[:] = [[2, 2, 2], [70000, 1]]
arrays = dict(x_train=x_train, y_train=np.array([1, 0, 1], dtype=np.int64),
              x_test=x_test, y_test=np.array([0, 1], dtype=np.int64))
np.savez(f"{out}/imdb_small.npz", **arrays)
np.savez_compressed(f"{out}/imdb_small_compressed.npz", **arrays)

# Older numpy (and Python 2, which wrote the original Keras file) pickled with
# protocol 2: the same arrays with the object members written that way.
import io
import pickle
import zipfile

with zipfile.ZipFile(f"{out}/imdb_small_protocol2.npz", "w") as z:
    for name, array in arrays.items():
        buffer = io.BytesIO()
        if array.dtype == object:
            np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
            pickle.dump(array, buffer, protocol=2)
        else:
            np.lib.format.write_array(buffer, array)
        z.writestr(f"{name}.npy", buffer.getvalue())

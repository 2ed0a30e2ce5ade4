"""Reads a pipeline_run dataset the way its users do, with readers nobody
here wrote: WebDataset's own loader for the tars, pyarrow for the Parquet,
Pillow for every image. Asserts what a trainer relies on and prints the
counts as one JSON object, which the Rust test (tests/readers.rs) compares
with what it served.

    python read_dataset.py STORE webdataset|parquet
"""

import glob
import io
import json
import os
import sys

import pyarrow.parquet as pq
import webdataset as wds
from PIL import Image

store, fmt = sys.argv[1], sys.argv[2]
counts = {"rows": 0, "samples": 0, "captions": 0, "images_decoded": 0}

# Every shard's metadata, successes and failures alike, in both formats.
keys = set()
for path in sorted(glob.glob(os.path.join(store, "*.parquet"))):
    table = pq.read_table(path)
    counts["rows"] += table.num_rows
    for row in table.to_pylist():
        assert row["key"] not in keys, f"key {row['key']} twice"
        keys.add(row["key"])
        if fmt == "parquet" and row["status"] == "success":
            # The image is in the row, and is the size the row says.
            image = Image.open(io.BytesIO(row["jpg"]))
            image.load()
            assert image.size == (row["width"], row["height"]), (path, row["key"], image.size)
            counts["images_decoded"] += 1
            counts["samples"] += 1
            counts["captions"] += row.get("caption") is not None
        elif fmt == "parquet":
            assert row["jpg"] is None, (path, row["key"])

if fmt == "webdataset":
    # WebDataset's loader, decoding every sample: jpg to a PIL image, json to
    # a dict, txt to a string; a sample is the files that share a key.
    tars = sorted(glob.glob(os.path.join(store, "*.tar")))
    dataset = wds.WebDataset(tars, shardshuffle=False).decode("pil")
    for sample in dataset:
        image, meta = sample["jpg"], sample["json"]
        assert sample["__key__"] == meta["key"], (sample["__key__"], meta["key"])
        assert meta["key"] in keys, f"sample {meta['key']} is in no shard's metadata"
        assert meta["status"] == "success", meta
        assert image.size == (meta["width"], meta["height"]), (meta["key"], image.size)
        counts["images_decoded"] += 1
        counts["samples"] += 1
        if "txt" in sample:
            assert sample["txt"] == meta["caption"], (sample["txt"], meta)
            counts["captions"] += 1
        else:
            assert meta.get("caption") is None, meta

print(json.dumps(counts))

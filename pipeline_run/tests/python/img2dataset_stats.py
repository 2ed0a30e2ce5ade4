"""A script written for img2dataset's output, as its users write them: sum
the per-shard stats files of a dataset folder. It reads only the fields
img2dataset writes (count, successes, failed_to_download,
failed_to_resize), and indexes them directly, so a missing or renamed
field fails here as it would in their scripts.

    python img2dataset_stats.py FOLDER
"""

import glob
import json
import os
import sys

folder = sys.argv[1]
totals = {"count": 0, "successes": 0, "failed_to_download": 0, "failed_to_resize": 0}
for path in glob.glob(os.path.join(folder, "*_stats.json")):
    with open(path) as file:
        stats = json.load(file)
    for field in totals:
        totals[field] += stats[field]
totals["shards"] = len(glob.glob(os.path.join(folder, "*_stats.json")))
print(json.dumps(totals))

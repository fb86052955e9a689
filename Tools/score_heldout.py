"""Scores the default model's held-out pictures made elsewhere (e.g. on the GPU by
`cuda-check heldout MODEL OUT`) with the deterministic analyser (Tools/train_default_model/analyser.py,
the rules the Swift tests' SceneAnalyser ports): percent of prompts with colour, shape and position
all right, per folder, and how many prompts each folder gets right that the first does not (and back).

usage: python Tools/score_heldout.py OUT_DIR   (OUT_DIR/<name>/NN.png in eval.json's held-out order)
"""
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "train_default_model"))
import analyser  # noqa: E402


def main(out_dir):
    rows = json.load(open(os.path.join(HERE, "train_default_model/runs/v3/eval.json")))["held_out_float32"]["rows"]
    results = {}
    for name in sorted(os.listdir(out_dir)):
        folder = os.path.join(out_dir, name)
        if not os.path.isdir(folder):
            continue
        right = []
        for i, row in enumerate(rows):
            path = os.path.join(folder, "%02d.png" % i)
            if not os.path.exists(path):
                raise SystemExit("%s: missing (expected %d pictures)" % (path, len(rows)))
            r = analyser.analyse(np.array(Image.open(path).convert("RGB")))
            right.append([r["colour"], r["shape"], r["position"]] == list(row["want"]))
        results[name] = right
    first = None
    for name, right in results.items():
        pct = 100.0 * sum(right) / len(right)
        line = "%-12s all three right: %5.1f%% (%d of %d)" % (name, pct, sum(right), len(right))
        if first is not None:
            gained = sum(1 for a, b in zip(results[first], right) if b and not a)
            lost = sum(1 for a, b in zip(results[first], right) if a and not b)
            line += "; vs %s: %d gained, %d lost" % (first, gained, lost)
        else:
            first = name
        print(line)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])

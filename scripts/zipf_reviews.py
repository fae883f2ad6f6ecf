#!/usr/bin/env python3
"""Writes movie reviews shaped like IMDB's, for timing training on text-like data.

The folders are those of `aclImdb` (train/pos, train/neg, test/pos, test/neg, one
review per .txt file), so `dpsgd train --dataset imdb --data-dir OUT` reads them.
Review lengths follow a log-normal like IMDB's (median about 180 words); words are
drawn by Zipf's law (exponent 1.07) over a 60,000-word vocabulary, as words of
English text are. Labels are random: the reviews are for timing, not for learning.
Standard library only.

    python3 scripts/zipf_reviews.py OUT [--train 25000] [--test 2000] [--seed 0]
"""

import argparse
import itertools
import os
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write imdb/aclImdb into")
    parser.add_argument("--train", type=int, default=25000, help="training reviews")
    parser.add_argument("--test", type=int, default=2000, help="test reviews")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocabulary = 60000
    words = [f"w{i}" for i in range(vocabulary)]
    weights = list(itertools.accumulate(1.0 / rank**1.07 for rank in range(1, vocabulary + 1)))
    for split, count in [("train", args.train), ("test", args.test)]:
        for label in ["pos", "neg"]:
            folder = os.path.join(args.out, "imdb", "aclImdb", split, label)
            os.makedirs(folder, exist_ok=True)
            for k in range(count // 2):
                length = int(min(2000, max(10, rng.lognormvariate(5.2, 0.6))))
                review = rng.choices(words, cum_weights=weights, k=length)
                with open(os.path.join(folder, f"{k}_1.txt"), "w") as f:
                    f.write(" ".join(review))


if __name__ == "__main__":
    main()

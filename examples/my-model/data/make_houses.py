"""Writes houses-train.csv and houses-test.csv: invented houses (no real records), a
price for each from a made-up formula plus noise, for the example crate's private
training. Deterministic: rerunning it writes the same files."""

import csv
import math
import random

DISTRICTS = ["north", "south", "east", "west"]
PREMIUM = {"north": 0.35, "south": -0.2, "east": 0.0, "west": 0.15}


def house(rng):
    area = rng.uniform(30, 250)
    rooms = max(1, min(8, round(area / 30 + rng.gauss(0, 0.7))))
    age = rng.uniform(0, 100)
    distance = rng.expovariate(1 / 8)
    district = rng.choice(DISTRICTS)
    price = (0.6 + 0.012 * area + 0.05 * rooms - 0.004 * age + 0.9 * math.exp(-distance / 6)
             + PREMIUM[district] + rng.gauss(0, 0.1))
    # A few houses far out or of odd size: the schema's bounds clamp them.
    return [f"{area:.1f}", rooms, f"{age:.0f}", f"{distance:.2f}", district, f"{price:.3f}"]


def write(path, rows, rng):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["area_m2", "rooms", "age_years", "distance_km", "district", "price_100k"])
        for _ in range(rows):
            out.writerow(house(rng))


rng = random.Random(7)
write("houses-train.csv", 4000, rng)
write("houses-test.csv", 500, rng)

"""Make data/mission/incidents_example.csv: a FICTIONAL mission incident-database export.

Nothing in it is real: places are real towns of central and northern Mali, but every incident,
count, unit and name is invented by this script (seeded, standard library only) so that the
mission-export schema mapping (data/schemas/mission_export.toml) has a plausible table to read.
The column `source_name` stands for the personal data such exports carry (who reported); vigil
must drop it.

Usage: python3 data/scripts/make_mission_example.py data/mission/incidents_example.csv
"""
import csv
import random
import sys
from datetime import datetime, timedelta

SEED = 20261124
# sector, location, latitude, longitude
PLACES = [
    ("Sector East", "Gao", 16.27, -0.04), ("Sector East", "Ansongo", 15.66, 0.50),
    ("Sector East", "Menaka", 15.92, 2.40), ("Sector North", "Kidal", 18.44, 1.41),
    ("Sector North", "Tessalit", 20.20, 1.01), ("Sector West", "Timbuktu", 16.77, -3.01),
    ("Sector West", "Goundam", 16.41, -3.67), ("Sector Centre", "Mopti", 14.49, -4.20),
    ("Sector Centre", "Douentza", 15.00, -2.95), ("Sector Centre", "Bandiagara", 14.35, -3.61),
]
CATEGORIES = ["Armed clash", "IED", "Indirect fire", "Attack on civilians", "Abduction",
              "Attack on peacekeepers", "Demonstration"]
UNITS = ["BATT-1", "BATT-2", "FPU-3", "UNPOL-GAO", "JOC-BAMAKO", "MILOB-7"]
GIVEN = ["Amadou", "Fatoumata", "Ibrahim", "Aminata", "Moussa", "Mariam", "Oumar", "Kadiatou"]
FAMILY = ["Traore", "Coulibaly", "Diallo", "Keita", "Toure", "Maiga", "Cisse", "Sangare"]

def main(dst: str) -> None:
    rng = random.Random(SEED)
    start = datetime(2019, 1, 1)
    rows = []
    for i in range(240):
        sector, location, lat, lon = rng.choice(PLACES)
        when = start + timedelta(days=rng.randrange(0, 3 * 365), minutes=rng.randrange(0, 1440))
        category = rng.choice(CATEGORIES)
        lethal = category not in ("Demonstration", "Abduction") and rng.random() < 0.55
        rows.append({
            "incident_id": f"MIN-{2019 + (when.year - 2019)}-{i + 1:05d}",
            "reported_at": when.strftime("%d/%m/%Y %H:%M"),
            "mission": "MINUSMA",
            "sector": sector,
            "location": location,
            "latitude": f"{lat + rng.uniform(-0.05, 0.05):.4f}",
            "longitude": f"{lon + rng.uniform(-0.05, 0.05):.4f}",
            "category": category,
            "killed": rng.choice([1, 1, 2, 3, 5, 8]) if lethal else 0,
            "injured": rng.choice([0, 0, 1, 2, 4]),
            "reporting_unit": rng.choice(UNITS),
            "source_name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
        })
    rows.sort(key=lambda r: datetime.strptime(r["reported_at"], "%d/%m/%Y %H:%M"))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} fictional incidents to {dst}")

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

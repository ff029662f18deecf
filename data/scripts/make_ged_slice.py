"""Make the shipped UCDP GED slice (data/ucdp_ged/ged_events.parquet).

Input: the team's copy of real UCDP GED events (21,575 events, 9 countries, 1989-2021; see
data/README.md for the upstream sources). The slice keeps every event but only the columns vigil
reads or an analyst needs to trace an event; the long free-text source columns (articles,
headlines, source names) are left out to keep the repository small.

Usage: python3 data/scripts/make_ged_slice.py SOURCE.parquet data/ucdp_ged/ged_events.parquet
Needs: pyarrow (tested with pyarrow 26.0.1).
"""
import sys

import pyarrow.parquet as pq

KEEP = [
    "id", "year", "type_of_violence", "conflict_new_id", "conflict_name", "dyad_new_id",
    "dyad_name", "side_a", "side_b", "where_prec", "adm_1", "adm_2", "latitude", "longitude",
    "priogrid_gid", "country", "country_id", "region", "event_clarity", "date_prec",
    "date_start", "date_end", "deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown",
    "best", "high", "low", "ged_version",
]

def main(src: str, dst: str) -> None:
    table = pq.read_table(src, columns=KEEP)
    table = table.sort_by([("id", "ascending")])
    table = table.replace_schema_metadata({
        "source": "UCDP Georeferenced Event Dataset (GED), CC BY 4.0",
        "citation": "Sundberg & Melander (2013), JPR 50(4); Davies, Pettersson & Oberg (2023), JPR 60(4)",
    })
    pq.write_table(table, dst, compression="zstd", row_group_size=1 << 20)
    print(f"wrote {table.num_rows} rows x {table.num_columns} columns to {dst}")

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

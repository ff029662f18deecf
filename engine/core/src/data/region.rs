//! The grammar of region ids, in one place: every stage that builds, parses or walks an id uses
//! these functions.
//!
//! * a country: its code (`484`);
//! * an admin-1 unit: `code/admin1` (`484/Guerrero`); an admin-2 unit: `code/admin1/admin2`;
//!   names are escaped so a `/` inside one cannot be read as a level ([`id_segment`]);
//! * a PRIO-GRID cell: `pg<gid>` (`pg153000`); an incident with no cell: `code/pg-unknown`.
//!
//! A region's parent is its id without the last segment, its country the first segment.

use serde::{Deserialize, Serialize};

/// The geographic level regions are cut at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Countries: `region_id` = country code.
    Country,
    /// First-level units: `region_id` = `country_code/admin1`.
    Admin1,
    /// Second-level units: `region_id` = `country_code/admin1/admin2`.
    Admin2,
    /// PRIO-GRID 0.5° cells: `region_id` = `pg<gid>`.
    Grid,
}

impl Default for Level {
    /// A job's level when its spec names none: first-level units (states, provinces, regions).
    fn default() -> Self {
        Level::Admin1
    }
}

impl Level {
    /// All levels, coarsest first.
    pub const ALL: [Level; 4] = [Level::Country, Level::Admin1, Level::Admin2, Level::Grid];

    /// The name used in specs and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Country => "country",
            Level::Admin1 => "admin1",
            Level::Admin2 => "admin2",
            Level::Grid => "grid",
        }
    }
}

named_enum!(Level, "level");

/// The label of a region with no admin unit or grid cell.
pub const UNKNOWN: &str = "unknown";

/// The prefix of a PRIO-GRID cell's id.
const GRID_PREFIX: &str = "pg";

/// The end of the grid-level id of an incident without a cell (`484/pg-unknown`).
const NO_CELL: &str = "/pg-unknown";

/// A name as one segment of a `/`-separated region id: `%` becomes `%25` and `/` becomes
/// `%2F`, so a name that contains a slash (GED has an admin-2 unit "Hkamti district/Naga Hills
/// district") cannot be mistaken for two levels of the hierarchy.
pub fn id_segment(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// The id of PRIO-GRID cell `gid`.
pub fn grid_id(gid: i64) -> String {
    format!("{GRID_PREFIX}{gid}")
}

/// The PRIO-GRID cell an id names, if it names one.
pub fn grid_of(id: &str) -> Option<i64> {
    id.strip_prefix(GRID_PREFIX)?.parse().ok()
}

/// The id of the region at `level` of an incident with country code `code`, admin units
/// `admin1` and `admin2` (or [`UNKNOWN`]) and PRIO-GRID cell `grid`.
pub fn region_id(level: Level, code: &str, admin1: &str, admin2: &str, grid: Option<i64>) -> String {
    match level {
        Level::Country => id_segment(code),
        Level::Admin1 => format!("{}/{}", id_segment(code), id_segment(admin1)),
        Level::Admin2 => format!(
            "{}/{}/{}",
            id_segment(code),
            id_segment(admin1),
            id_segment(admin2)
        ),
        Level::Grid => match grid {
            Some(g) => grid_id(g),
            None => format!("{}{NO_CELL}", id_segment(code)),
        },
    }
}

/// The level an id names.
pub fn level_of(id: &str) -> Level {
    if grid_of(id).is_some() || id.ends_with(NO_CELL) {
        return Level::Grid;
    }
    match id.matches('/').count() {
        0 => Level::Country,
        1 => Level::Admin1,
        _ => Level::Admin2,
    }
}

/// The region one level up: the id without its last segment; `None` for a country or a cell.
pub fn parent(id: &str) -> Option<&str> {
    id.rsplit_once('/').map(|(p, _)| p)
}

/// The country an admin unit belongs to (its first segment); a country or a cell is its own.
pub fn country_of(id: &str) -> String {
    id.split('/').next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_built_parsed_and_walked_by_one_grammar() {
        let a2 = region_id(
            Level::Admin2,
            "104",
            "Sagaing",
            "Hkamti district/Naga Hills district",
            None,
        );
        assert_eq!(a2, "104/Sagaing/Hkamti district%2FNaga Hills district");
        assert_eq!(level_of(&a2), Level::Admin2);
        assert_eq!(parent(&a2), Some("104/Sagaing"));
        assert_eq!(parent("104/Sagaing"), Some("104"));
        assert_eq!(parent("104"), None);
        assert_eq!(country_of(&a2), "104");
        let cell = region_id(Level::Grid, "484", UNKNOWN, UNKNOWN, Some(153000));
        assert_eq!(
            (cell.as_str(), grid_of(&cell), level_of(&cell)),
            ("pg153000", Some(153000), Level::Grid)
        );
        let lost = region_id(Level::Grid, "484", UNKNOWN, UNKNOWN, None);
        assert_eq!(
            (lost.as_str(), grid_of(&lost), level_of(&lost)),
            ("484/pg-unknown", None, Level::Grid)
        );
        assert_eq!(level_of("484"), Level::Country);
        assert_eq!(grid_of("pgx"), None);
    }
}

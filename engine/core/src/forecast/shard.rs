//! Scale-out: which regions a shard computes, and the part file it leaves for the merge.
//!
//! A job's regions are split over `n` shards by their position in the sorted region list:
//! shard `i` takes positions `i, i + n, i + 2n, …`. That depends only on the panel (the same
//! data and as-of date give the same sorted ids), never on a hash seed, a thread count or the
//! machine, and it spreads neighbouring ids (often one country's units) over all shards.
//!
//! A shard writes one part file, atomically: a temporary file in the same folder, flushed to
//! disk, then renamed into place. A shard that dies leaves at most a temporary file, which no
//! merge reads; a shard that is rerun replaces its part.

use crate::error::EngineError;
use crate::forecast::local::LocalPart;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// First bytes of a part file: the format and its version.
const MAGIC: &[u8] = b"vigil-part/1\n";

/// One shard of `count`: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards the job is split into.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `i/n` (e.g. `0/4` … `3/4`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a shard: use i/n with 0 ≤ i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The positions, among `regions` sorted regions, that this shard computes.
    pub fn regions(&self, regions: usize) -> Vec<usize> {
        (self.index..regions).step_by(self.count).collect()
    }

    /// The part file's name: `part-0002-of-0004.bin`.
    pub fn file_name(&self) -> String {
        format!("part-{:04}-of-{:04}.bin", self.index, self.count)
    }
}

/// What a part file says about itself, checked by the merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartHeader {
    /// The run the part belongs to (spec, inputs, as-of and overrides).
    pub run_id: String,
    /// Which shard wrote it.
    pub shard: Shard,
    /// The engine version that wrote it.
    pub engine_version: String,
}

/// Writes `part` to `path` atomically (temporary file, fsync, rename).
pub fn write_part(path: &Path, header: &PartHeader, part: &LocalPart) -> Result<(), EngineError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let bytes = rmp_serde::to_vec(&(header, part)).map_err(|e| EngineError::Invalid {
        context: format!("encoding {}", path.display()),
        message: e.to_string(),
    })?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
    f.write_all(MAGIC)
        .and_then(|()| f.write_all(&bytes))
        .and_then(|()| f.sync_all())
        .map_err(|e| EngineError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io(path, e))?;
    Ok(())
}

/// Reads a part file written by [`write_part`].
pub fn read_part(path: &Path) -> Result<(PartHeader, LocalPart), EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    let body = bytes.strip_prefix(MAGIC).ok_or_else(|| EngineError::Invalid {
        context: path.display().to_string(),
        message: "not a vigil shard part (or one from an incompatible version)".into(),
    })?;
    rmp_serde::from_slice(body).map_err(|e| EngineError::Invalid {
        context: path.display().to_string(),
        message: format!("unreadable shard part ({e}); rerun that shard"),
    })
}

/// The folder of a run's parts inside the job folder: `<run id>.parts`.
pub fn parts_dir(job_dir: &Path, run_id: &str) -> PathBuf {
    job_dir.join(format!("{run_id}.parts"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_regions_by_position() {
        let n = 11;
        let mut seen = vec![0; n];
        for i in 0..4 {
            let s: Shard = format!("{i}/4").parse().unwrap();
            for r in s.regions(n) {
                seen[r] += 1;
            }
        }
        assert_eq!(seen, vec![1; n], "every region in exactly one shard");
        assert_eq!("1/4".parse::<Shard>().unwrap().regions(11), vec![1, 5, 9]);
        for bad in ["4/4", "1", "a/4", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(
            "2/4".parse::<Shard>().unwrap().file_name(),
            "part-0002-of-0004.bin"
        );
    }
}

//! Integrity of a finished run: every file the manifest lists still has the sha256 it was
//! written with, none is missing, and nothing was added beside them.

use super::run::{Manifest, sha256_file};
use crate::error::EngineError;
use std::path::Path;

/// What `vigil verify` found in a run folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verification {
    /// Files checked against the manifest.
    pub checked: usize,
    /// Files whose sha256 differs: (file, manifest's sha256, sha256 now).
    pub changed: Vec<(String, String, String)>,
    /// Files the manifest lists that are gone.
    pub missing: Vec<String>,
    /// Files in the folder that the manifest does not list (the manifest itself aside).
    pub unlisted: Vec<String>,
}

impl Verification {
    /// Whether the run is exactly as it was written.
    pub fn intact(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.unlisted.is_empty()
    }
}

/// Every file below `dir`, relative to it with `/` separators, sorted.
fn files_below(dir: &Path) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| EngineError::io(&d, e))? {
            let p = e.map_err(|e| EngineError::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Recomputes the sha256 of every output the manifest of run folder `run` lists.
pub fn verify_run(run: &Path) -> Result<Verification, EngineError> {
    let path = run.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| EngineError::Json {
        path: path.clone(),
        source: e,
    })?;
    let mut v = Verification::default();
    for o in &manifest.outputs {
        let f = run.join(&o.file);
        if !f.is_file() {
            v.missing.push(o.file.clone());
            continue;
        }
        let got = sha256_file(&f)?;
        v.checked += 1;
        if got != o.sha256 {
            v.changed.push((o.file.clone(), o.sha256.clone(), got));
        }
    }
    v.unlisted = files_below(run)?
        .into_iter()
        .filter(|f| f != "manifest.json" && !manifest.outputs.iter().any(|o| o.file == *f))
        .collect();
    Ok(v)
}

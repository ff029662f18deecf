//! Classification levels carried by every input and output.

use serde::{Deserialize, Serialize};

/// How sensitive a table is. Ordered: an output derived from several inputs carries the highest
/// level among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Published data (e.g. UCDP GED).
    Public,
    /// Not published, but not sensitive.
    Unclassified,
    /// Need-to-know within the organisation.
    Confidential,
    /// Named people only; never leaves the mission without an agreement.
    StrictlyConfidential,
}

impl Classification {
    /// All levels, lowest first.
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Unclassified,
        Classification::Confidential,
        Classification::StrictlyConfidential,
    ];

    /// The name used in specs, manifests and parquet metadata (`strictly_confidential`).
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Unclassified => "unclassified",
            Classification::Confidential => "confidential",
            Classification::StrictlyConfidential => "strictly_confidential",
        }
    }

    /// The marking printed on charts and banners (`STRICTLY CONFIDENTIAL`).
    pub fn marking(self) -> String {
        self.as_str().replace('_', " ").to_uppercase()
    }
}

named_enum!(Classification, "classification");

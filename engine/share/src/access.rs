//! Who may read what: API tokens, roles and need-to-know, for the HTTP service.
//!
//! A token is `vgl_<id>_<secret>`: the id names it in logs and in the token file; the secret
//! (32 random bytes, hex) is shown once when the token is made and only its sha256 is stored.
//! The token file (TOML, `[[token]]` tables) holds for each token: id, sha256 of the secret,
//! role, and for analysts a clearance. Roles:
//!
//! - `analyst`: any run output up to its clearance;
//! - `hq`: run outputs up to `unclassified`, headquarters' own level;
//! - `partner:<id>`: nothing of the runs; only that partner's packages, and only while its
//!   agreement is valid.
//!
//! [`decide`] is the single place where a request is allowed or not; the service calls it for
//! every resource, so a listing never shows what a read would refuse.

use serde::{Deserialize, Serialize};
use std::path::Path;
use vigil_core::data::classification::Classification;
use vigil_core::error::EngineError;
use vigil_core::output::sha256_bytes;

/// A role, as written in the token file (`analyst`, `hq`, `partner:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Mission or HQ analyst with a clearance.
    Analyst,
    /// Headquarters: run outputs up to `unclassified`.
    Hq,
    /// A research partner: only its own packages.
    Partner(String),
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "analyst" => Ok(Role::Analyst),
            "hq" => Ok(Role::Hq),
            _ => match s.strip_prefix("partner:") {
                Some(id) if !id.is_empty() => Ok(Role::Partner(id.to_string())),
                _ => Err(format!(
                    "'{s}' is not a role: use analyst, hq or partner:<partner id>"
                )),
            },
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Analyst => f.write_str("analyst"),
            Role::Hq => f.write_str("hq"),
            Role::Partner(id) => write!(f, "partner:{id}"),
        }
    }
}

/// One token of the token file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Its id (lowercase letters and digits), shown in access logs instead of the token.
    pub id: String,
    /// sha256 (hex) of the secret part.
    pub sha256: String,
    /// `analyst`, `hq` or `partner:<id>`.
    pub role: String,
    /// For analysts: the highest classification they may read.
    #[serde(default)]
    pub clearance: Option<Classification>,
}

/// The token file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Every token.
    #[serde(default)]
    pub token: Vec<TokenEntry>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// The highest classification of run outputs it may read (`None` for partners: none).
    pub clearance: Option<Classification>,
}

impl TokenFile {
    /// Reads and checks a token file (a missing file is an empty one).
    pub fn load(path: &Path) -> Result<TokenFile, EngineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
            Err(e) => return Err(EngineError::io(path, e)),
        };
        let file: TokenFile = toml::from_str(&text).map_err(|e| EngineError::Invalid {
            context: format!("token file {}", path.display()),
            message: e.to_string(),
        })?;
        for t in &file.token {
            let role: Role = t.role.parse().map_err(|m: String| EngineError::Invalid {
                context: format!("token file {}, token {}", path.display(), t.id),
                message: m,
            })?;
            if role == Role::Analyst && t.clearance.is_none() {
                return Err(EngineError::Invalid {
                    context: format!("token file {}, token {}", path.display(), t.id),
                    message: "an analyst token needs a clearance".into(),
                });
            }
        }
        Ok(file)
    }

    /// Writes the file (tokens only ever as hashes).
    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        let text = toml::to_string(self).map_err(|e| EngineError::Invalid {
            context: format!("token file {}", path.display()),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| EngineError::io(path, e))
    }

    /// Makes a new token for `role`, adds its hash, and returns the token (shown once).
    pub fn issue(&mut self, role: &Role, clearance: Option<Classification>) -> Result<String, EngineError> {
        if *role == Role::Analyst && clearance.is_none() {
            return Err(EngineError::Invalid {
                context: "new token".into(),
                message: "an analyst token needs --clearance".into(),
            });
        }
        let mut bytes = [0u8; 40];
        random_bytes(&mut bytes)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let (id, secret) = hex.split_at(16);
        self.token.push(TokenEntry {
            id: id.to_string(),
            sha256: sha256_bytes(secret.as_bytes()),
            role: role.to_string(),
            clearance: if *role == Role::Analyst { clearance } else { None },
        });
        Ok(format!("vgl_{id}_{secret}"))
    }

    /// The caller a presented token stands for, or `None` for an unknown, malformed or
    /// tampered token (the service answers 401 without saying which).
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let rest = token.strip_prefix("vgl_")?;
        let (id, secret) = rest.split_once('_')?;
        let entry = self.token.iter().find(|t| t.id == id)?;
        // Compare hashes, not secrets: equal-length hex, and the stored side is a hash anyway.
        if !constant_time_eq(
            sha256_bytes(secret.as_bytes()).as_bytes(),
            entry.sha256.as_bytes(),
        ) {
            return None;
        }
        let role: Role = entry.role.parse().ok()?;
        let clearance = match &role {
            Role::Analyst => entry.clearance,
            Role::Hq => Some(Classification::Unclassified),
            Role::Partner(_) => None,
        };
        Some(Caller {
            id: entry.id.clone(),
            role,
            clearance,
        })
    }
}

/// Fills `buf` from the operating system's random source.
fn random_bytes(buf: &mut [u8]) -> Result<(), EngineError> {
    use std::io::Read as _;
    let path = Path::new("/dev/urandom");
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| EngineError::io(path, e))
}

/// Byte comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource<'a> {
    /// An output of a run, at its classification.
    RunOutput(Classification),
    /// A partner package of `partner`, whose agreement is (or is not) valid today.
    Package {
        /// The partner the package was made for.
        partner: &'a str,
        /// Whether that partner's agreement is valid today.
        agreement_valid: bool,
    },
}

/// The answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve it.
    Allow,
    /// 403: the caller may know it exists but not read it.
    Forbidden,
    /// 404: the caller may not even know it exists.
    Hidden,
}

/// Whether `caller` may read `resource`.
pub fn decide(caller: &Caller, resource: &Resource<'_>) -> Decision {
    match (resource, &caller.role) {
        (Resource::RunOutput(level), Role::Analyst | Role::Hq) => match caller.clearance {
            Some(c) if *level <= c => Decision::Allow,
            // Analysts and HQ know the runs exist; what is above them is refused, not hidden.
            _ => Decision::Forbidden,
        },
        // Partners learn nothing of the runs.
        (Resource::RunOutput(_), Role::Partner(_)) => Decision::Hidden,
        (
            Resource::Package {
                partner,
                agreement_valid,
            },
            Role::Partner(me),
        ) => {
            if partner != me {
                Decision::Hidden
            } else if *agreement_valid {
                Decision::Allow
            } else {
                Decision::Forbidden
            }
        }
        // Packages are for their partner; staff read the runs they came from.
        (Resource::Package { .. }, Role::Analyst | Role::Hq) => Decision::Forbidden,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Classification::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_only_the_issued_token_authenticates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let mut file = TokenFile::default();
        let analyst = file.issue(&Role::Analyst, Some(Confidential)).unwrap();
        let partner = file.issue(&"partner:univ-a".parse().unwrap(), None).unwrap();
        assert!(
            file.issue(&Role::Analyst, None).is_err(),
            "analysts need a clearance"
        );
        file.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = analyst.rsplit('_').next().unwrap();
        assert!(!text.contains(secret), "the secret is never stored");
        let file = TokenFile::load(&path).unwrap();
        let a = file.authenticate(&analyst).unwrap();
        assert_eq!((a.role, a.clearance), (Role::Analyst, Some(Confidential)));
        assert_eq!(
            file.authenticate(&partner).unwrap().role,
            Role::Partner("univ-a".into())
        );
        // Tampered (one character), unknown, malformed.
        let mut bad = analyst.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert!(file.authenticate(std::str::from_utf8(&bad).unwrap()).is_none());
        assert!(file.authenticate("vgl_0000000000000000_abc").is_none());
        assert!(file.authenticate("Bearer nonsense").is_none());
    }

    #[test]
    fn every_role_reads_what_it_may_and_nothing_else() {
        let caller = |role: Role, clearance| Caller {
            id: "t".into(),
            role,
            clearance,
        };
        let analyst = caller(Role::Analyst, Some(Confidential));
        let hq = caller(Role::Hq, Some(Unclassified));
        let partner = caller(Role::Partner("a".into()), None);
        use Decision::*;
        let levels = [Public, Unclassified, Confidential, StrictlyConfidential];
        let expect = [
            (&analyst, [Allow, Allow, Allow, Forbidden]),
            (&hq, [Allow, Allow, Forbidden, Forbidden]),
            (&partner, [Hidden, Hidden, Hidden, Hidden]),
        ];
        for (who, want) in expect {
            for (level, w) in levels.iter().zip(want) {
                assert_eq!(
                    decide(who, &Resource::RunOutput(*level)),
                    w,
                    "{:?} {level:?}",
                    who.role
                );
            }
        }
        let own = |valid| Resource::Package {
            partner: "a",
            agreement_valid: valid,
        };
        assert_eq!(decide(&partner, &own(true)), Allow);
        assert_eq!(decide(&partner, &own(false)), Forbidden, "expired agreement");
        let other = Resource::Package {
            partner: "b",
            agreement_valid: true,
        };
        assert_eq!(decide(&partner, &other), Hidden, "another partner's package");
        assert_eq!(decide(&analyst, &own(true)), Forbidden);
    }
}

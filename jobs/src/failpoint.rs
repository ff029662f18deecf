//! Failpoints for the tests that kill a run at a chosen moment.

use anyhow::Result;

/// Fails with an error when `VIGIL_FAILPOINT` names `name`, so a test can stop a run at that
/// point and check what it left behind.
pub fn failpoint(name: &str) -> Result<()> {
    if std::env::var("VIGIL_FAILPOINT").is_ok_and(|v| v == name) {
        anyhow::bail!("failpoint {name} triggered (VIGIL_FAILPOINT)");
    }
    Ok(())
}

//! vigil-share: who may see what, and every release on the record.
//!
//! [`access`] (API tokens, roles and need-to-know), [`audit`] (the append-only, hash-chained
//! audit log), [`retention`] (deleting runs and packages past their time), [`export`] (partner
//! packages under an agreement) and [`suppress`] (small-cell suppression with complementary
//! suppression). Differential-privacy noise (opendp) is used only here, so the analytics core
//! builds without it.

pub mod access;
pub mod audit;
pub mod export;
pub mod retention;
pub mod suppress;

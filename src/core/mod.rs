//! The pure core: the event model, the fold, the rules every event meets,
//! and what a run's state means (resume, ready, views, verdicts).
//!
//! May import: nothing of nexo outside `core` (and `crate::trace`'s clock
//! and test hooks). No files, no git, no processes, no clap: everything
//! here is unit-tested in place, without a repository.

pub mod approval;
pub mod check;
pub mod claim;
pub mod divergence;
pub mod error;
pub mod event;
pub mod feed;
pub mod fold;
pub mod goal;
pub mod graph;
pub mod id;
pub mod layout;
pub mod limits;
pub mod model;
pub mod ready;
pub mod resume;
pub mod template;
#[cfg(test)]
pub(crate) mod testkit;
pub mod verify;
pub mod view;
pub mod wait;
pub mod words;

//! The planner: routine + voice → timeline.

/// Options for planning.
#[derive(Clone, Debug)]
pub struct PlanOptions {}

/// Why a routine could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {}

/// Plans a routine.
pub fn plan() {}

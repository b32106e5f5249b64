//! The crate's error type.

/// Everything that can go wrong while loading or evaluating a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Rego text did not parse or compile.
    #[error("policy {id}: parse error: {reason}")]
    Parse {
        /// Policy id.
        id: String,
        /// Parser message.
        reason: String,
    },
    /// Evaluation failed (type error, timeout, bad builtin call).
    #[error("policy {id}: evaluation failed: {reason}")]
    Eval {
        /// Policy id.
        id: String,
        /// Engine message.
        reason: String,
    },
    /// The policy evaluated, but its output does not have the required shape.
    #[error("policy {id}: bad output: {reason}")]
    Output {
        /// Policy id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The policy input or data could not be converted for the engine.
    #[error("policy input: {0}")]
    Input(String),
    /// Reference values JSON is malformed.
    #[error("reference values: {0}")]
    ReferenceValues(String),
}

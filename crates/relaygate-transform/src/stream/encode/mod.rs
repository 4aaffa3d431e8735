//! Client event encoders, one per protocol.

pub(crate) mod anthropic;
pub(crate) mod chat;
pub(crate) mod gemini;
pub(crate) mod responses;

use crate::Loss;

/// Records a loss once per field.
pub(crate) fn lose_once(losses: &mut Vec<Loss>, field: &str, reason: &'static str) {
    if !losses.iter().any(|l| l.field == field) {
        losses.push(Loss {
            field: field.to_owned(),
            reason,
        });
    }
}

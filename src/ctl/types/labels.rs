//! Host labels: the bodies of the label commands.

use serde::{Deserialize, Serialize};

/// A host label (`label.put` body).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct HostLabel {
    /// Key (`arch` in `arch=amd64`).
    pub key: String,
    /// Value (`amd64` in `arch=amd64`).
    pub value: String,
}

/// The key of a host label (`label.del` body).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct HostLabelIdentifier {
    /// Key of the label to delete.
    pub key: String,
}

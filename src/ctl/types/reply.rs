//! The envelope every host reply comes in, and a command's acknowledgement.

use serde::{Deserialize, Deserializer, Serialize};

/// Reply envelope of every control request: `{"success", "message", "response"?}`.
///
/// Decoding also accepts the host's internal-failure form `{"success":false,"error":"…"}`
/// (the text lands in `message`) and a missing `message`; encoding is upstream's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtlResponse<T> {
    /// Whether the host handled the request.
    pub success: bool,
    /// The host's message (empty for most successes).
    pub message: String,
    /// The payload, for queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for CtlResponse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(bound(deserialize = "T: Deserialize<'de>"))]
        struct Wire<T> {
            success: bool,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default = "Option::default")]
            response: Option<T>,
        }
        let w = Wire::<T>::deserialize(deserializer)?;
        Ok(CtlResponse {
            success: w.success,
            message: w.message.or(w.error).unwrap_or_default(),
            response: w.response,
        })
    }
}

/// A host's acknowledgement of a command: its message on success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// The host's message (often empty, e.g. for scale).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::types::*;
    use std::collections::HashMap;

    use serde_json::json;

    #[test]
    fn ctl_response_decodes_internal_failure_form() {
        let r: CtlResponse<Host> =
            serde_json::from_value(json!({"success": false, "error": "boom"})).unwrap();
        assert!(!r.success);
        assert_eq!(r.message, "boom");
        assert!(r.response.is_none());
    }

    #[test]
    fn ctl_response_decodes_normal_and_null_response() {
        let r: CtlResponse<Vec<Link>> =
            serde_json::from_value(json!({"success": true, "message": "", "response": null}))
                .unwrap();
        assert!(r.success && r.response.is_none());
        let r: CtlResponse<HashMap<String, String>> = serde_json::from_value(
            json!({"success": true, "message": "m", "response": {"a": "b"}}),
        )
        .unwrap();
        assert_eq!(r.message, "m");
        assert_eq!(r.response.unwrap()["a"], "b");
        // `success` is what makes it a control reply
        assert!(serde_json::from_value::<CtlResponse<()>>(json!({"message": "x"})).is_err());
    }

    #[test]
    fn ctl_response_encodes_like_upstream() {
        let r = CtlResponse::<()> {
            success: true,
            message: "ok".into(),
            response: None,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"success": true, "message": "ok"})
        );
    }
}

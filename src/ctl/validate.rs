//! Argument checks shared by the command builders and the client, run before any NATS traffic.

use super::error::{CtlError, Result};

/// Trimmed `value`, or `InvalidArgument` when it is empty or whitespace.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(CtlError::invalid_argument(format!(
            "{field} must not be empty"
        )));
    }
    Ok(trimmed.to_string())
}

/// Like [`non_empty`], and the value must fit in one NATS subject token because it becomes
/// part of a subject (host ids, config names): a `.`, `*`, `>` or whitespace would address a
/// different subject or none.
pub(crate) fn subject_token(field: &str, value: &str) -> Result<String> {
    let v = non_empty(field, value)?;
    if v.chars()
        .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
    {
        return Err(CtlError::invalid_argument(format!(
            "{field} must not contain '.', '*', '>' or whitespace"
        )));
    }
    Ok(v)
}

/// A label key a host accepts: not empty, not under the reserved `hostcore.` namespace.
pub(crate) fn label_key(key: &str) -> Result<String> {
    let k = non_empty("label key", key)?;
    if k.to_lowercase().starts_with("hostcore.") {
        return Err(CtlError::invalid_argument(
            "label keys under `hostcore.` are reserved by the host",
        ));
    }
    Ok(k)
}

/// Checks that `value` is not empty or whitespace, keeping it unchanged.
pub(crate) fn check_non_empty(field: &str, value: &str) -> Result<()> {
    non_empty(field, value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::CtlErrorKind;

    #[test]
    fn non_empty_trims_and_refuses_blank() {
        assert_eq!(non_empty("x", "  a ").unwrap(), "a");
        for bad in ["", " ", "\t\n"] {
            let e = non_empty("host id", bad).unwrap_err();
            assert_eq!(e.kind(), CtlErrorKind::InvalidArgument);
            assert!(e.message().contains("host id"));
        }
    }

    #[test]
    fn subject_token_refuses_wildcards_and_dots() {
        assert_eq!(subject_token("n", " cfg-1_a ").unwrap(), "cfg-1_a");
        for bad in ["a.b", "a*", ">", "a b", "a\u{0}"] {
            assert_eq!(
                subject_token("n", bad).unwrap_err().kind(),
                CtlErrorKind::InvalidArgument,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn label_key_refuses_hostcore() {
        assert_eq!(label_key("zone").unwrap(), "zone");
        for bad in ["hostcore.os", "HostCore.arch", "", "  "] {
            assert_eq!(
                label_key(bad).unwrap_err().kind(),
                CtlErrorKind::InvalidArgument
            );
        }
        // only the dotted namespace is reserved
        assert!(label_key("hostcorex").is_ok());
    }
}

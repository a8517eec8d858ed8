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

/// Whether `token` is one NATS subject token as it is: not empty, and no `.` (it would split
/// the token), `*` or `>` (wildcards, which address other subjects), whitespace (it ends a
/// subject on the protocol line) or control character (NATS subjects cannot carry them
/// safely). Every other character is fine, non-ASCII letters included. The one subject-token
/// rule: host ids, config names, lattices and topic prefixes are all checked by it.
pub(crate) fn is_subject_token(token: &str) -> bool {
    !token.is_empty()
        && !token
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
}

/// Whether `prefix` is dot-separated subject tokens (see [`is_subject_token`]), as a topic
/// prefix must be.
pub(crate) fn is_subject_prefix(prefix: &str) -> bool {
    prefix.split('.').all(is_subject_token)
}

/// Like [`non_empty`], and the value must fit in one NATS subject token because it becomes
/// part of a subject (host ids, config names): see [`is_subject_token`].
pub(crate) fn subject_token(field: &str, value: &str) -> Result<String> {
    let v = non_empty(field, value)?;
    if !is_subject_token(&v) {
        return Err(CtlError::invalid_argument(format!(
            "{field} must not contain '.', '*', '>', whitespace or control characters"
        )));
    }
    Ok(v)
}

/// Longest component or provider id accepted. Ids become NATS subject tokens (wRPC and
/// health subjects), and a subject with its reply must fit the server's 4 KiB control line.
pub(crate) const MAX_ID_LEN: usize = 512;

/// A component or provider id: one subject token (see [`subject_token`]) of at most
/// [`MAX_ID_LEN`] bytes, because the host routes wRPC calls to `{lattice}.{id}.…` and providers
/// answer on subjects that carry their id.
pub(crate) fn workload_id(field: &str, value: &str) -> Result<String> {
    let v = subject_token(field, value)?;
    if v.len() > MAX_ID_LEN {
        return Err(CtlError::invalid_argument(format!(
            "{field} is longer than {MAX_ID_LEN} bytes"
        )));
    }
    Ok(v)
}

/// A label key a host accepts: not empty, not under the reserved `hostcore.` namespace.
/// Also used for deletes, where the host is laxer: it deletes a `hostcore.*` label and then
/// refuses to put it back, so such a delete could not be undone until the host restarts.
pub(crate) fn label_key(key: &str) -> Result<String> {
    let k = non_empty("label key", key)?;
    if k.to_lowercase().starts_with("hostcore.") {
        return Err(CtlError::invalid_argument(
            "label keys under `hostcore.` are reserved by the host",
        ));
    }
    Ok(k)
}

/// Longest image reference accepted (OCI allows 255 characters for the name alone).
const MAX_REF_LEN: usize = 4096;

/// An image reference the host can resolve, checked as wasmCloud 1.x hosts check it:
/// `file://` must convert to an absolute file path (`url::Url::to_file_path`), a
/// `wasmcloud+builtin://` name must not be empty, and `oci://`, `http(s)://` and bare
/// references must parse, lowercased, with the OCI distribution grammar the host's fetcher
/// uses (`oci_spec::distribution::Reference`). The reference is sent as given: the host
/// lowercases it itself. Unlike the host, another `scheme://` is refused here (the host would
/// try it as an OCI reference and fail only when fetching), and `:latest` is left to the host,
/// which refuses it unless started with `WASMCLOUD_OCI_ALLOW_LATEST`. Checked here because a
/// host acks a scale or auction with a reference it cannot parse and only reports the failure
/// later (or never answers an auction).
pub(crate) fn image_ref(field: &str, value: &str) -> Result<String> {
    let v = non_empty(field, value)?;
    let bad = |why: &str| Err(CtlError::invalid_argument(format!("{field} {why}")));
    if v.len() > MAX_REF_LEN {
        return bad(&format!("is longer than {MAX_REF_LEN} bytes"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace or control characters");
    }
    let oci = match v.split_once("://") {
        Some(("file", _)) => {
            let path = url::Url::parse(&v).ok().and_then(|u| u.to_file_path().ok());
            return match path {
                Some(p) if p.parent().is_some() => Ok(v),
                _ => bad("`file://` needs an absolute path"),
            };
        }
        Some(("wasmcloud+builtin", name)) if !name.is_empty() => return Ok(v),
        Some(("oci" | "http" | "https", rest)) => rest,
        Some((scheme, _)) => {
            return bad(&format!(
                "has unsupported scheme `{scheme}` (use file://, oci:// or a plain OCI reference)"
            ))
        }
        None => v.as_str(),
    };
    match oci
        .to_lowercase()
        .parse::<oci_spec::distribution::Reference>()
    {
        Ok(_) => Ok(v),
        Err(e) => bad(&format!(
            "is not a valid OCI reference (`[registry[:port]/]repository[:tag][@digest]`): {e}"
        )),
    }
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
    fn the_subject_token_boundary() {
        for good in ["a", "NHOST", "cfg-1_a", "zoë", "日本", "a:b", "a/b", "a+b"] {
            assert!(is_subject_token(good), "{good:?}");
        }
        for bad in [
            "", ".", "a.", ".a", "*", "a*", ">", "a>", " ", "a b", "a\tb", "a\nb", "a\u{a0}b",
            "a\u{0}", "a\u{7}", "a\u{1b}", "a\u{7f}", "a\u{85}",
        ] {
            assert!(!is_subject_token(bad), "{bad:?}");
        }
        // trimming is the caller's: `subject_token` trims, the raw check does not
        assert!(!is_subject_token(" a"));
        assert_eq!(subject_token("n", " zoë ").unwrap(), "zoë");
        assert!(subject_token("n", "a\u{1}").is_err());
    }

    #[test]
    fn a_subject_prefix_is_dotted_tokens() {
        for good in ["wasmbus.ctl", "a", "a.b.c", "tenant-1.ctl"] {
            assert!(is_subject_prefix(good), "{good:?}");
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "a.*", "a.>", "a .b", " a.b", "a.b\u{0}",
        ] {
            assert!(!is_subject_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn workload_id_is_one_bounded_subject_token() {
        for good in ["http-component", " rust_hello-world ", "VABCDEF0123"] {
            assert_eq!(workload_id("component_id", good).unwrap(), good.trim());
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in ["", "a.b", ">", "a b", "\u{0}\u{7}", long.as_str()] {
            let e = workload_id("component_id", bad).unwrap_err();
            assert_eq!(e.kind(), CtlErrorKind::InvalidArgument, "{bad:?}");
            assert!(e.message().starts_with("component_id"), "{}", e.message());
        }
        assert!(workload_id("provider_id", &"x".repeat(MAX_ID_LEN)).is_ok());
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

    #[test]
    fn image_ref_accepts_what_the_host_resolves() {
        for good in [
            "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0",
            "wasmcloud.azurecr.io/httpserver:0.19.1",
            "localhost:5000/v2/foo:0.1.0",
            "registry:5000/foo",
            "oci://ghcr.io/acme/x:1",
            "https://ghcr.io/acme/x:1",
            "nginx",
            "acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "file:///tmp/c.wasm",
            "wasmcloud+builtin://http-server",
            // the host lowercases a reference before parsing it
            "ghcr.io/Acme/App:1",
        ] {
            assert!(image_ref("component_ref", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn image_ref_refuses_what_the_host_cannot() {
        let huge = format!("ghcr.io/{}", "a".repeat(5000));
        for bad in [
            "",
            " ",
            "ghcr.io/acme/app:",
            "ghcr.io/acme/app:-x",
            "a b",
            "ftp://x/y",
            "file://relative",
            "file://",
            "acme//app",
            "acme/app@sha256:xyz",
            "!!!",
            "ghcr.io:port/x",
            huge.as_str(),
        ] {
            let e = image_ref("component_ref", bad).unwrap_err();
            assert_eq!(e.kind(), CtlErrorKind::InvalidArgument, "{bad}");
            assert!(
                e.message().starts_with("component_ref"),
                "{bad}: {}",
                e.message()
            );
        }
    }
}

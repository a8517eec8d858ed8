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

/// An image reference the host can resolve: `file://` (absolute path), `oci://`, `http(s)://`,
/// `wasmcloud+builtin://`, or a bare OCI reference (`[registry[:port]/]repo[:tag][@digest]`).
/// Checked here because a host acks a scale or auction with a reference it cannot parse and only
/// reports the failure later (or never answers an auction).
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
        Some(("file", path)) => {
            return if path.starts_with('/') && path.len() > 1 {
                Ok(v)
            } else {
                bad("`file://` needs an absolute path")
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
    if oci_reference_ok(oci) {
        Ok(v)
    } else {
        bad("is not a valid OCI reference (`[registry[:port]/]repository[:tag][@digest]`)")
    }
}

/// OCI distribution reference grammar, simplified: lowercase path components separated by `/`,
/// an optional registry host (with `.` or `:port`, or `localhost`), tag and digest.
fn oci_reference_ok(r: &str) -> bool {
    let (rest, digest) = match r.split_once('@') {
        Some((rest, d)) => (rest, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        let algo_ok = !algo.is_empty()
            && algo
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c));
        if !algo_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
    }
    let mut parts: Vec<&str> = rest.split('/').collect();
    // A tag follows the last `:` of the last component.
    let last = parts.pop().unwrap_or_default();
    let (name, tag) = match last.rsplit_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (last, None),
    };
    if let Some(t) = tag {
        let tag_ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return false;
        }
    }
    parts.push(name);
    let registry = if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        Some(parts.remove(0))
    } else {
        None
    };
    if let Some(host) = registry {
        let (h, port) = match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        let host_ok = !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !host_ok || !port_ok {
            return false;
        }
    }
    !parts.is_empty()
        && parts.iter().all(|c| {
            !c.is_empty()
                && c.chars()
                    .next()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .last()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "._-".contains(x))
        })
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
            "ghcr.io/Acme/App:1",
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

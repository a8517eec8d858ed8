//! Registry credentials (`put-registries`).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

fn default_registry_type() -> String {
    "oci".to_string()
}

/// Credentials for one registry (`registry.put` body values).
///
/// `Debug` redacts the password and token.
#[derive(Clone, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct RegistryCredential {
    /// Password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Registry type; only `oci` is supported by hosts.
    #[serde(rename = "registryType", default = "default_registry_type")]
    pub registry_type: String,
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryCredential")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("token", &redact(&self.token))
            .field("registry_type", &self.registry_type)
            .finish()
    }
}

/// Registry name (e.g. `ghcr.io`) → credentials.
pub type RegistryCredentialMap = HashMap<String, RegistryCredential>;

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    #[test]
    fn registry_credential_debug_redacts_secrets() {
        let c = RegistryCredential {
            username: Some("alice".into()),
            password: Some("hunter2-secret".into()),
            token: Some("tok-secret".into()),
            registry_type: "oci".into(),
        };
        let dbg = format!("{c:?}");
        assert!(dbg.contains("alice"));
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("tok-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn registry_type_defaults_to_oci() {
        let c: RegistryCredential = serde_json::from_value(json!({"token": "t"})).unwrap();
        assert_eq!(c.registry_type, "oci");
    }
}

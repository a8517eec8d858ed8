//! Links: a link definition and the request that deletes one.

use serde::{Deserialize, Serialize};

use crate::ctl::error::{CtlError, Result};
use crate::ctl::validate;

fn default_link_name() -> String {
    "default".to_string()
}

/// A wasmCloud 1.x interface link (`link.put` body, `link.get` items).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize, Hash)]
pub struct Link {
    /// Source component id.
    pub source_id: String,
    /// Target component or provider id.
    pub target: String,
    /// Link name (`default` when absent on the wire).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace, e.g. `wasi`.
    pub wit_namespace: String,
    /// WIT package, e.g. `keyvalue`.
    pub wit_package: String,
    /// WIT interfaces, e.g. `["store"]`.
    pub interfaces: Vec<String>,
    /// Named configs for the source side.
    #[serde(default)]
    pub source_config: Vec<String>,
    /// Named configs for the target side.
    #[serde(default)]
    pub target_config: Vec<String>,
}

impl Link {
    /// A builder; `build()` checks every field.
    pub fn builder() -> LinkBuilder {
        LinkBuilder(Self {
            name: default_link_name(),
            ..Self::default()
        })
    }

    /// Checks the link as the client does before `put_link`: source, target, name, WIT
    /// namespace and package not blank, at least one interface, none blank.
    pub fn validate(&self) -> Result<()> {
        validate::workload_id("link source_id", &self.source_id)?;
        validate::workload_id("link target", &self.target)?;
        validate::check_non_empty("link name", &self.name)?;
        validate::check_non_empty("link wit_namespace", &self.wit_namespace)?;
        validate::check_non_empty("link wit_package", &self.wit_package)?;
        if self.interfaces.is_empty() {
            return Err(CtlError::invalid_argument(
                "link interfaces must name at least one interface",
            ));
        }
        for i in &self.interfaces {
            validate::check_non_empty("link interface", i)?;
        }
        for c in self.source_config.iter().chain(&self.target_config) {
            validate::check_non_empty("link config name", c)?;
        }
        Ok(())
    }
}

/// Builds a [`Link`]; the name defaults to `default`.
#[derive(Clone, Debug)]
#[must_use]
pub struct LinkBuilder(Link);

impl LinkBuilder {
    setters! {
        /// Source component id (required).
        source_id: String;
        /// Target component or provider id (required).
        target: String;
        /// Link name (default `default`).
        name: String;
        /// WIT namespace (required).
        wit_namespace: String;
        /// WIT package (required).
        wit_package: String;
        /// WIT interfaces (at least one).
        interfaces: list;
        /// Source config names.
        source_config: list;
        /// Target config names.
        target_config: list;
    }

    /// The link, or `InvalidArgument` (see [`Link::validate`]).
    pub fn build(self) -> Result<Link> {
        self.0.validate()?;
        Ok(self.0)
    }
}

/// Body of `link.del`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteInterfaceLinkDefinitionRequest {
    /// Source component id.
    pub source_id: String,
    /// Link name (`default` when absent on the wire).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace.
    pub wit_namespace: String,
    /// WIT package.
    pub wit_package: String,
}

impl DeleteInterfaceLinkDefinitionRequest {
    /// A builder; the name defaults to `default`.
    pub fn builder() -> DeleteInterfaceLinkDefinitionRequestBuilder {
        DeleteInterfaceLinkDefinitionRequestBuilder(Self {
            name: default_link_name(),
            ..Self::default()
        })
    }

    /// Trims the fields and checks that none is blank, as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.source_id = validate::workload_id("link source_id", &self.source_id)?;
        self.name = validate::non_empty("link name", &self.name)?;
        self.wit_namespace = validate::non_empty("link wit_namespace", &self.wit_namespace)?;
        self.wit_package = validate::non_empty("link wit_package", &self.wit_package)?;
        Ok(self)
    }
}

/// Builds a [`DeleteInterfaceLinkDefinitionRequest`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DeleteInterfaceLinkDefinitionRequestBuilder(DeleteInterfaceLinkDefinitionRequest);

impl DeleteInterfaceLinkDefinitionRequestBuilder {
    setters! {
        /// Source component id (required).
        source_id: String;
        /// Link name (default `default`).
        name: String;
        /// WIT namespace (required).
        wit_namespace: String;
        /// WIT package (required).
        wit_package: String;
    }

    /// The request, or `InvalidArgument`.
    pub fn build(self) -> Result<DeleteInterfaceLinkDefinitionRequest> {
        self.0.normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::types::invalid;

    #[test]
    fn link_builder_defaults_name_and_validates() {
        let ok = || {
            Link::builder()
                .source_id("s")
                .target("t")
                .wit_namespace("wasi")
                .wit_package("keyvalue")
                .interfaces(["store"])
        };
        assert_eq!(ok().build().unwrap().name, "default");
        assert!(invalid(ok().name(" ").build()).contains("name"));
        assert!(invalid(ok().source_id("").build()).contains("source_id"));
        assert!(invalid(ok().target("").build()).contains("target"));
        assert!(invalid(ok().wit_namespace("").build()).contains("wit_namespace"));
        assert!(invalid(ok().wit_package(" ").build()).contains("wit_package"));
        assert!(invalid(ok().interfaces(Vec::<String>::new()).build()).contains("interfaces"));
        assert!(invalid(ok().interfaces([""]).build()).contains("interface"));
        assert!(invalid(ok().target_config([" "]).build()).contains("config"));
    }

    #[test]
    fn delete_link_builder_defaults_name_and_validates() {
        let ok = || {
            DeleteInterfaceLinkDefinitionRequest::builder()
                .source_id("s")
                .wit_namespace("wasi")
                .wit_package("keyvalue")
        };
        assert_eq!(ok().build().unwrap().name, "default");
        assert!(invalid(ok().name("").build()).contains("name"));
        assert!(invalid(ok().source_id(" ").build()).contains("source_id"));
        assert!(invalid(ok().wit_namespace("").build()).contains("wit_namespace"));
        assert!(invalid(ok().wit_package("").build()).contains("wit_package"));
    }
}

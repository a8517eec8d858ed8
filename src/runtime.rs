//! The provider's async runtime, chosen by its own config before anything else starts.
//!
//! `runtime` in the provider's named configs (the configs given to `start-provider` or a
//! wadm provider's `config`; not a link's) picks the Tokio scheduler: `multi_thread` (the
//! default: one worker per core) or `current_thread` (one thread for everything). The host
//! hands the provider its configuration on stdin, so it is read here, synchronously, before
//! the runtime exists; the SDK reads the same cached host data later.

use std::collections::HashMap;

/// The provider-config key.
pub const KEY: &str = "runtime";

/// A Tokio scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Tokio's multi-threaded scheduler, one worker per core.
    MultiThread,
    /// One thread runs every task.
    CurrentThread,
}

/// The flavor `config` asks for (keys match case-insensitively, values too; `-` or `_`).
///
/// # Errors
/// A value other than `multi_thread` or `current_thread`, naming the key and the value (it
/// is a scheduler name, never a credential).
pub fn flavor(config: &HashMap<String, String>) -> Result<Flavor, String> {
    let Some(value) = crate::provider::config::lookup(config, KEY) else {
        return Ok(Flavor::MultiThread);
    };
    match value.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "" | "multi_thread" => Ok(Flavor::MultiThread),
        "current_thread" => Ok(Flavor::CurrentThread),
        other => Err(format!(
            "invalid provider config `{KEY}` = `{other}`: expected `multi_thread` or `current_thread`"
        )),
    }
}

/// Builds the runtime the provider's config asks for. Host data that cannot be read gives
/// the default runtime, and [`crate::run`] reports that error.
///
/// # Errors
/// An invalid `runtime` value, or a runtime that cannot be built.
pub fn build() -> anyhow::Result<tokio::runtime::Runtime> {
    let flavor = match wasmcloud_provider_sdk::load_host_data() {
        Ok(data) => flavor(&data.config).map_err(anyhow::Error::msg)?,
        Err(_) => Flavor::MultiThread,
    };
    let mut builder = match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    Ok(builder.enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn default_is_multi_thread_and_values_are_forgiving() {
        assert_eq!(flavor(&cfg(&[])), Ok(Flavor::MultiThread));
        assert_eq!(flavor(&cfg(&[("lattice", "x")])), Ok(Flavor::MultiThread));
        assert_eq!(
            flavor(&cfg(&[("Runtime", " Current-Thread ")])),
            Ok(Flavor::CurrentThread)
        );
        assert_eq!(
            flavor(&cfg(&[("runtime", "multi_thread")])),
            Ok(Flavor::MultiThread)
        );
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let err = flavor(&cfg(&[("runtime", "green")])).unwrap_err();
        assert!(err.contains("`runtime`") && err.contains("green"), "{err}");
    }
}

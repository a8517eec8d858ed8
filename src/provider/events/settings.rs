//! A link's event settings: which event types it receives, its queue bound and its delivery timeout.

use super::*;

/// Link config key: which event types the link receives (none or empty: no events).
pub const EVENTS_KEY: &str = "events";
/// Link config key: bound of the link's event queue.
pub const EVENT_QUEUE_KEY: &str = "event_queue";
/// Link config key: timeout of one `handle-event` call, in ms.
pub const EVENT_TIMEOUT_KEY: &str = "event_timeout_ms";
/// Default of [`EVENT_QUEUE_KEY`].
pub const DEFAULT_EVENT_QUEUE: usize = 256;
/// Default of [`EVENT_TIMEOUT_KEY`].
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_millis(2000);
/// Largest accepted [`EVENT_QUEUE_KEY`].
pub const MAX_EVENT_QUEUE: usize = 65_536;
/// Largest accepted [`EVENT_TIMEOUT_KEY`] (one minute).
pub const MAX_EVENT_TIMEOUT_MS: u64 = 60_000;

/// A bad event setting of a link; names the key and why, never echoes other keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("link config `{key}`: {reason}")]
pub struct EventConfigError {
    /// The offending config key.
    pub key: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

pub(super) fn config_error(key: &'static str, reason: impl Into<String>) -> EventConfigError {
    EventConfigError {
        key,
        reason: reason.into(),
    }
}

/// A link's event settings, parsed from its merged config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSettings {
    /// Normalized patterns: short names, `prefix*`, or `*`.
    pub types: Vec<String>,
    /// Queue bound (oldest dropped beyond it).
    pub queue: usize,
    /// Timeout of one delivery call.
    pub timeout: Duration,
}

pub(super) fn parse_bounded(
    key: &'static str,
    value: &str,
    max: u64,
) -> Result<u64, EventConfigError> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| config_error(key, "must be a whole number"))?;
    if n == 0 || n > max {
        return Err(config_error(key, format!("must be between 1 and {max}")));
    }
    Ok(n)
}

/// One `events` entry in normalized form: `*`, `prefix*` or an exact short name.
pub(super) fn normalize_type(entry: &str) -> Result<String, EventConfigError> {
    let short = entry.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(entry);
    let (stem, wildcard) = match short.strip_suffix('*') {
        Some(stem) => (stem, true),
        None => (short, short.ends_with('_')),
    };
    if !stem
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(config_error(
            EVENTS_KEY,
            format!(
                "`{entry}` is not an event type (lowercase letters, digits and `_`, \
                 optionally ending in `*`)"
            ),
        ));
    }
    Ok(if wildcard {
        format!("{stem}*")
    } else {
        stem.to_string()
    })
}

impl EventSettings {
    /// The link's event settings; `None` when it does not ask for events (no `events` key or
    /// an empty list). Bad values are errors naming the key.
    pub fn from_settings(
        settings: &HashMap<String, String>,
    ) -> Result<Option<Self>, EventConfigError> {
        let queue = lookup(settings, EVENT_QUEUE_KEY)
            .map(|v| parse_bounded(EVENT_QUEUE_KEY, v, MAX_EVENT_QUEUE as u64))
            .transpose()?
            .map_or(DEFAULT_EVENT_QUEUE, |n| n as usize);
        let timeout = lookup(settings, EVENT_TIMEOUT_KEY)
            .map(|v| parse_bounded(EVENT_TIMEOUT_KEY, v, MAX_EVENT_TIMEOUT_MS))
            .transpose()?
            .map_or(DEFAULT_EVENT_TIMEOUT, Duration::from_millis);
        let mut types = Vec::new();
        for entry in lookup(settings, EVENTS_KEY)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let t = normalize_type(entry)?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        if types.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            types,
            queue,
            timeout,
        }))
    }

    /// The filter of these settings' types.
    #[must_use]
    pub fn filter(&self) -> EventFilter {
        EventFilter::new(&self.types)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_types_prefixes_and_defaults() {
        assert_eq!(EventSettings::from_settings(&cfg(&[])), Ok(None));
        assert_eq!(
            EventSettings::from_settings(&cfg(&[("events", " , ")])),
            Ok(None)
        );
        let s = EventSettings::from_settings(&cfg(&[(
            "EVENTS",
            "component_scaled, provider_,com.wasmcloud.lattice.host_*,component_scaled",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(s.types, vec!["component_scaled", "provider_*", "host_*"]);
        assert_eq!(s.queue, DEFAULT_EVENT_QUEUE);
        assert_eq!(s.timeout, DEFAULT_EVENT_TIMEOUT);
        let f = s.filter();
        assert!(f.matches_name("provider_start_failed") && f.matches_name("host_heartbeat"));
        assert!(!f.matches_name("component_scale_failed"));
        let all = EventSettings::from_settings(&cfg(&[
            ("events", "*"),
            ("Event_Queue", "8"),
            ("event_timeout_ms", "150"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(all.types, vec!["*"]);
        assert!(all.filter().matches_name("anything_at_all"));
        assert_eq!((all.queue, all.timeout), (8, Duration::from_millis(150)));
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (pairs, key) in [
            (&[("events", "Host Started")][..], EVENTS_KEY),
            (&[("events", "a*b")][..], EVENTS_KEY),
            (
                &[("events", "*"), ("event_queue", "0")][..],
                EVENT_QUEUE_KEY,
            ),
            (
                &[("events", "*"), ("event_queue", "lots")][..],
                EVENT_QUEUE_KEY,
            ),
            (
                &[("events", "*"), ("event_queue", "9999999")][..],
                EVENT_QUEUE_KEY,
            ),
            (&[("event_timeout_ms", "-5")][..], EVENT_TIMEOUT_KEY),
            (&[("event_timeout_ms", "0")][..], EVENT_TIMEOUT_KEY),
        ] {
            let e = EventSettings::from_settings(&cfg(pairs)).unwrap_err();
            assert_eq!(e.key, key, "{pairs:?}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }
}

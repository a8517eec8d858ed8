//! Typed errors of the control-interface client.

use core::fmt;

/// What went wrong, so callers can match on a kind instead of parsing strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CtlErrorKind {
    /// No reply arrived within the request (or scatter) timeout.
    Timeout,
    /// Nobody subscribes to the subject: no host (or not that host) on this lattice.
    NoResponders,
    /// The NATS connection failed (publish, subscribe, flush, connection closed).
    Transport,
    /// A reply could not be decoded, or lacked a response the operation requires.
    Decode,
    /// An argument was refused before any NATS traffic.
    InvalidArgument,
    /// The host answered `success: false`; the message is the host's.
    Rejected,
}

impl CtlErrorKind {
    /// Stable snake_case name, e.g. `no_responders`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::NoResponders => "no_responders",
            Self::Transport => "transport",
            Self::Decode => "decode",
            Self::InvalidArgument => "invalid_argument",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for CtlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the control-interface client: a [`CtlErrorKind`], a message and maybe a cause.
///
/// Messages never carry credentials: the client never puts request bodies into them.
#[derive(Debug)]
pub struct CtlError {
    kind: CtlErrorKind,
    message: String,
    source: Option<BoxError>,
}

/// Result type of the control-interface client.
pub type Result<T> = std::result::Result<T, CtlError>;

impl CtlError {
    /// An error of `kind` with `message` and no cause.
    #[must_use]
    pub fn new(kind: CtlErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause (kept for [`std::error::Error::source`]).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> CtlErrorKind {
        self.kind
    }

    /// The message; for [`CtlErrorKind::Rejected`] it is the host's own message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// [`CtlErrorKind::Timeout`].
    #[must_use]
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::Timeout, message)
    }

    /// [`CtlErrorKind::NoResponders`].
    #[must_use]
    pub fn no_responders(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::NoResponders, message)
    }

    /// [`CtlErrorKind::Transport`].
    #[must_use]
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::Transport, message)
    }

    /// [`CtlErrorKind::Decode`].
    #[must_use]
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::Decode, message)
    }

    /// [`CtlErrorKind::InvalidArgument`].
    #[must_use]
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::InvalidArgument, message)
    }

    /// [`CtlErrorKind::Rejected`], carrying the host's message.
    #[must_use]
    pub fn rejected(message: impl Into<String>) -> Self {
        Self::new(CtlErrorKind::Rejected, message)
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for CtlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<async_nats::RequestError> for CtlError {
    fn from(err: async_nats::RequestError) -> Self {
        use async_nats::RequestErrorKind as K;
        let kind = match err.kind() {
            K::TimedOut => CtlErrorKind::Timeout,
            K::NoResponders => CtlErrorKind::NoResponders,
            K::Other => CtlErrorKind::Transport,
        };
        let message = match kind {
            CtlErrorKind::Timeout => "no reply within the request timeout".to_string(),
            CtlErrorKind::NoResponders => "no responders on this subject".to_string(),
            _ => format!("request failed: {err}"),
        };
        Self::new(kind, message).with_source(err)
    }
}

impl From<async_nats::SubscribeError> for CtlError {
    fn from(err: async_nats::SubscribeError) -> Self {
        Self::transport(format!("subscribe failed: {err}")).with_source(err)
    }
}

impl From<async_nats::PublishError> for CtlError {
    fn from(err: async_nats::PublishError) -> Self {
        Self::transport(format!("publish failed: {err}")).with_source(err)
    }
}

impl From<async_nats::client::FlushError> for CtlError {
    fn from(err: async_nats::client::FlushError) -> Self {
        Self::transport(format!("flush failed: {err}")).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_kind_colon_message() {
        let e = CtlError::no_responders("nobody home");
        assert_eq!(e.to_string(), "no_responders: nobody home");
        assert_eq!(e.kind(), CtlErrorKind::NoResponders);
        assert_eq!(e.message(), "nobody home");
    }

    #[test]
    fn kinds_display_snake_case() {
        let all = [
            (CtlErrorKind::Timeout, "timeout"),
            (CtlErrorKind::NoResponders, "no_responders"),
            (CtlErrorKind::Transport, "transport"),
            (CtlErrorKind::Decode, "decode"),
            (CtlErrorKind::InvalidArgument, "invalid_argument"),
            (CtlErrorKind::Rejected, "rejected"),
        ];
        for (kind, name) in all {
            assert_eq!(kind.to_string(), name);
        }
    }

    #[test]
    fn constructors_set_kind() {
        assert_eq!(CtlError::timeout("t").kind(), CtlErrorKind::Timeout);
        assert_eq!(CtlError::transport("t").kind(), CtlErrorKind::Transport);
        assert_eq!(CtlError::decode("t").kind(), CtlErrorKind::Decode);
        assert_eq!(
            CtlError::invalid_argument("t").kind(),
            CtlErrorKind::InvalidArgument
        );
        assert_eq!(CtlError::rejected("t").kind(), CtlErrorKind::Rejected);
    }

    #[test]
    fn source_is_kept() {
        use std::error::Error as _;
        let io = std::io::Error::other("boom");
        let e = CtlError::transport("x").with_source(io);
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("boom"));
        assert!(CtlError::decode("y").source().is_none());
    }
}

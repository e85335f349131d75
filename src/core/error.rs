//! One error type for the whole library, classified so that every adapter
//! (CLI, `nexo call`, MCP) maps it to the same stable exit code.

use std::fmt;
use std::sync::Arc;

/// What went wrong, coarsely: each kind has a stable process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is wrong (bad JSON, unknown status, bad name, ...).
    Invalid,
    /// A run or step that was named does not exist.
    NotFound,
    /// A run-id prefix matches more than one run.
    Ambiguous,
    /// The request is well-formed but the run's state forbids it.
    Conflict,
    /// Not inside a usable git repository, or git refused an operation.
    Repo,
    /// Stored files are unreadable or corrupt.
    Corrupt,
    /// Another process holds a lock for too long.
    Busy,
    /// The operating system refused a read or write.
    Io,
    /// The step is held by someone else's live claim, or a claim lost
    /// the race for it.
    Claimed,
    /// Other clones kept moving the remote until the time ran out:
    /// nothing is lost, and the same command run again may well succeed.
    Contended,
    /// A wait's condition did not hold before its timeout: nothing is
    /// wrong, and waiting again may well see it.
    TimedOut,
}

impl ErrorKind {
    /// Stable exit codes, documented in docs/cli.md. 1 is left for clap's own
    /// usage errors being mapped to 2 and for panics.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Invalid => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Ambiguous => 4,
            ErrorKind::Conflict => 5,
            ErrorKind::Repo => 6,
            ErrorKind::Corrupt => 7,
            ErrorKind::Busy => 8,
            ErrorKind::Io => 9,
            ErrorKind::Claimed => 10,
            ErrorKind::Contended => 12,
            ErrorKind::TimedOut => 13,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Ambiguous => "ambiguous",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Repo => "repository",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Busy => "busy",
            ErrorKind::Io => "io",
            ErrorKind::Claimed => "claim_held",
            ErrorKind::Contended => "contended",
            ErrorKind::TimedOut => "timed_out",
        }
    }

    /// Whether running the same command again may succeed unchanged:
    /// others were in the way (a lock held, a remote that kept moving).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Busy | ErrorKind::Contended | ErrorKind::TimedOut
        )
    }
}

/// A message (and a hint) that names the caller's fields, written once
/// for every interface: each is given how to name a field. The tool
/// interface names a field as itself (`step_title`); the command line by
/// the flag that stands for it (`--title`), so no interface rewrites
/// another's words. Behind one pointer, so an error stays small.
#[derive(Clone, Default)]
pub struct Naming {
    message: Option<Arc<Words>>,
    hint: Option<Arc<Words>>,
}

/// Writes a text, given how to name a field.
type Words = dyn Fn(&dyn Fn(&str) -> String) -> String + Send + Sync;

impl fmt::Debug for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Naming(..)")
    }
}

/// What went wrong, what to do about it, and the underlying cause.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// What is wrong, in the caller's terms.
    pub message: String,
    /// What would be right, when there is one thing to suggest.
    pub hint: Option<String>,
    /// The error underneath (an I/O error, say), for `source()`.
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    /// Fields the tool interface adds to its failure answer, where the
    /// original gave more than a message (a gate's `blocked_by`, say).
    pub details: Vec<(&'static str, serde_json::Value)>,
    /// `message` and `hint` again, with the fields they name left for the
    /// interface to name (see [`Naming`]).
    pub naming: Option<Arc<Naming>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
            details: Vec::new(),
            naming: None,
        }
    }
    /// An error whose message names the caller's fields: `words` writes it
    /// given how to name a field (see [`Naming`]). `message` holds it with
    /// every field named as itself.
    pub fn naming(
        kind: ErrorKind,
        words: impl Fn(&dyn Fn(&str) -> String) -> String + Send + Sync + 'static,
    ) -> Self {
        let mut e = Self::new(kind, words(&|field: &str| field.to_string()));
        e.naming = Some(Arc::new(Naming {
            message: Some(Arc::new(words)),
            hint: None,
        }));
        e
    }
    /// The message with each field it names as `name` calls it (the
    /// message as it is where it names none).
    pub fn message_naming(&self, name: &dyn Fn(&str) -> String) -> String {
        match self.naming.as_ref().and_then(|n| n.message.as_ref()) {
            Some(words) => words(name),
            None => self.message.clone(),
        }
    }
    /// The hint with each field it names as `name` calls it.
    pub fn hint_naming(&self, name: &dyn Fn(&str) -> String) -> Option<String> {
        match self.naming.as_ref().and_then(|n| n.hint.as_ref()) {
            Some(words) => Some(words(name)),
            None => self.hint.clone(),
        }
    }
    /// The same error, suggesting a fix that names the caller's fields:
    /// `words` writes it given how to name a field (see [`Naming`]).
    pub fn with_hint_naming(
        mut self,
        words: impl Fn(&dyn Fn(&str) -> String) -> String + Send + Sync + 'static,
    ) -> Self {
        self.hint = Some(words(&|field: &str| field.to_string()));
        let mut naming = self.naming.as_deref().cloned().unwrap_or_default();
        naming.hint = Some(Arc::new(words));
        self.naming = Some(Arc::new(naming));
        self
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn repo(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Repo, message)
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    /// An I/O failure, naming what we were doing and to which path, with
    /// the operating system's error as its source.
    pub fn io(what: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("cannot {what} {}", path.display())).with_source(err)
    }
    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
    /// What caused the error, outermost first: each source's own words,
    /// without repeats (a wrapper that quotes its cause adds nothing).
    pub fn causes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            if !text.is_empty() && !out.iter().any(|o| o.contains(&text)) {
                out.push(text);
            }
            next = e.source();
        }
        out
    }
    /// The message with its causes, on one line (`message: cause: cause`),
    /// for answers that carry one text.
    pub fn message_with_causes(&self) -> String {
        std::iter::once(self.message.clone())
            .chain(self.causes())
            .collect::<Vec<_>>()
            .join(": ")
    }
    /// The same error, suggesting `hint` as the fix.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        if let Some(naming) = &self.naming {
            let message = naming.message.clone();
            self.naming = Some(Arc::new(Naming {
                message,
                hint: None,
            }));
        }
        self
    }
    /// The same error, with a field for the tool interface's answer.
    pub fn with_detail(mut self, field: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.details.push((field, value.into()));
        self
    }
    /// The message, each cause on a "caused by:" line, and the hint, as
    /// one text for a person.
    pub fn full(&self) -> String {
        let mut text = self.message.clone();
        for cause in self.causes() {
            text.push_str(&format!("\ncaused by: {cause}"));
        }
        if let Some(h) = &self.hint {
            text.push_str(&format!("\nhint: {h}"));
        }
        text
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

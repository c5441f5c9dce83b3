//! Configuration errors, each one line that names the key, the value and what is expected.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// A key holds a value of the wrong kind or out of range.
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    /// The file is not TOML.
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file cannot be read.
    Unreadable { path: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                key,
                value,
                expected,
            } => write!(f, "config error: {key} = {value}: {expected}"),
            ConfigError::Syntax {
                origin,
                line,
                column,
                message,
            } => write!(
                f,
                "config error: {origin}, line {line}, column {column}: not valid TOML: {message}"
            ),
            ConfigError::Unreadable { path, reason } => {
                write!(f, "config error: cannot read {path}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, value: impl fmt::Display, expected: &str) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    pub(crate) fn syntax(origin: &str, text: &str, err: &toml::de::Error) -> Self {
        let offset = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        ConfigError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message: err.message().trim().to_string(),
        }
    }

    /// Turns a deserialisation error into `key = value: expected`, looking the offending
    /// value up in the parsed document.
    pub(crate) fn from_serde(
        root: &toml::Value,
        err: serde_path_to_error::Error<toml::de::Error>,
    ) -> Self {
        let path = err.path().clone();
        let message = err.into_inner().message().to_string();
        let mut key = path.to_string();
        let mut value = lookup(root, &path);
        // Unknown keys: serde_path_to_error's path already ends with the unknown key.
        if let Some(name) = between(&message, "unknown field `", "`")
            && !(key == name || key.ends_with(&format!(".{name}")))
        {
            key = if key == "." || key.is_empty() {
                name.to_string()
            } else {
                format!("{key}.{name}")
            };
            value = lookup(root, &path).and_then(|parent| match parent {
                toml::Value::Table(t) => t.get(name).cloned(),
                _ => None,
            });
        }
        if let Some(name) = between(&message, "missing field `", "`") {
            key = if key == "." || key.is_empty() {
                name.to_string()
            } else {
                format!("{key}.{name}")
            };
            return ConfigError::invalid(key, "(missing)", "this key is required here");
        }
        let shown = value
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(missing)".to_string());
        ConfigError::invalid(key, shown, &explain(&message))
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

fn lookup(root: &toml::Value, path: &serde_path_to_error::Path) -> Option<toml::Value> {
    use serde_path_to_error::Segment;
    let mut current = root;
    for segment in path.iter() {
        current = match (segment, current) {
            (Segment::Map { key }, toml::Value::Table(t)) => t.get(key)?,
            (Segment::Seq { index }, toml::Value::Array(a)) => a.get(*index)?,
            _ => return None,
        };
    }
    Some(current.clone())
}

/// Rewrites serde's wording into what a person should write instead.
fn explain(message: &str) -> String {
    if message.starts_with("unknown field") {
        let known = message
            .split("expected ")
            .nth(1)
            .unwrap_or("")
            .replace('`', "");
        return format!("unknown key; expected {known}");
    }
    if message.contains("unknown variant") {
        let known = message
            .split("expected ")
            .nth(1)
            .unwrap_or("")
            .replace('`', "\"");
        return format!("expected {known}");
    }
    if message.contains("expected u16") {
        return "expected a port number from 0 to 65535".to_string();
    }
    if message.contains("expected u32") || message.contains("expected u64") {
        return "expected a whole number, 0 or more".to_string();
    }
    if message.contains("IP address") {
        return "expected an IP address such as \"0.0.0.0\", \"127.0.0.1\" or \"::\"".to_string();
    }
    match message.split("expected ").nth(1) {
        Some(what) => format!("expected {what}"),
        None => message.to_string(),
    }
}

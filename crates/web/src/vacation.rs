//! The account page's vacation form: on, off, days, subject and text, written as the
//! user's Sieve script `vacation` (RFC 5230) and made active. A script the user had
//! active (from a mail app, over ManageSieve) keeps running: the form's script includes
//! it after the reply, and turning the reply off makes it active again. The form reads
//! back only scripts it wrote (their first line says so).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use estafeta_store::{Store, User};
use serde::Deserialize;

use crate::WebState;
use crate::account::{forbidden, signed_in};
use crate::html::escape;
use crate::session;

/// The name of the script the form writes.
pub const SCRIPT: &str = "vacation";
const MARK: &str = "# Written by the vacation form of estafeta's account page;";
/// Longest subject and text the form takes.
pub const MAX_SUBJECT: usize = 200;
pub const MAX_TEXT: usize = 4000;

#[derive(Deserialize)]
pub struct VacationForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    days: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
}

/// What the form shows: the reply as last written, and whether it is on.
#[derive(Debug, Default, PartialEq)]
pub struct Vacation {
    pub on: bool,
    pub days: u32,
    pub subject: String,
    pub text: String,
    /// The script that was active before the reply was turned on.
    pub previous: Option<String>,
}

/// The user's vacation reply, as the form wrote it (defaults when it never did).
pub async fn current(store: &dyn Store, user: &User) -> Vacation {
    let scripts = store.sieve_scripts(user.id).await.unwrap_or_default();
    let on = scripts.iter().any(|s| s.active && s.name == SCRIPT);
    let text = store.sieve_script(user.id, SCRIPT).await.ok().flatten();
    let mut v = text.as_deref().and_then(read_back).unwrap_or(Vacation {
        days: 7,
        ..Vacation::default()
    });
    v.on = on;
    v
}

/// The form, for the settings page.
pub fn form(v: &Vacation, token: &str) -> String {
    format!(
        "<h2>Vacation reply</h2>\n\
         <form method=\"post\" action=\"/account/vacation\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <label><input type=\"checkbox\" name=\"on\" value=\"on\"{checked}> Answer mail while I am away</label>\n\
         <label>Subject <input name=\"subject\" maxlength=\"{MAX_SUBJECT}\" value=\"{subject}\"></label>\n\
         <label>Message <textarea name=\"text\" rows=\"6\" cols=\"60\" maxlength=\"{MAX_TEXT}\">{text}</textarea></label>\n\
         <label>Answer each sender once every <input name=\"days\" type=\"number\" min=\"1\" max=\"30\" value=\"{days}\"> days</label>\n\
         <button type=\"submit\">Save</button>\n</form>\n",
        token = escape(token),
        checked = if v.on { " checked" } else { "" },
        subject = escape(&v.subject),
        text = escape(&v.text),
        days = v.days,
    )
}

pub async fn save(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<VacationForm>,
) -> Response {
    if !session::same_origin(&headers) {
        return forbidden("This form was sent from another site.");
    }
    let Some((session, secret, user)) = signed_in(&state, &headers).await else {
        return Redirect::to("/account").into_response();
    };
    if !session.form_token_matches(&secret, &form.token) {
        return forbidden("This form has expired: reload the page and try again.");
    }
    let days = form.days.trim().parse::<u32>().unwrap_or(7).clamp(1, 30);
    let result = apply(
        &*state.store,
        &state.config.sieve,
        &user,
        form.on.is_some(),
        days,
        &form.subject,
        &form.text,
    )
    .await;
    match result {
        Ok(on) => {
            tracing::info!(user = %user.address, on, days, "vacation reply saved");
            Redirect::to("/account").into_response()
        }
        Err(e) => {
            tracing::warn!(user = %user.address, error = %e, "vacation reply not saved");
            forbidden(&format!("The vacation reply was not saved: {e}"))
        }
    }
}

/// Writes the user's vacation reply (on or off) as their `vacation` script, keeping the
/// script they had active running after it: what the account page's form and JMAP's
/// VacationResponse both do. The subject and text are cleaned (control characters,
/// lengths). Returns whether the reply is on.
pub async fn apply(
    store: &dyn Store,
    sieve: &estafeta_config::SieveConfig,
    user: &User,
    on: bool,
    days: u32,
    subject: &str,
    text: &str,
) -> Result<bool, estafeta_store::StoreError> {
    let clean = |s: &str, max: usize, lines: bool| -> String {
        s.chars()
            .filter(|c| !c.is_control() || (lines && *c == '\n'))
            .take(max)
            .collect()
    };
    let subject = clean(subject.trim(), MAX_SUBJECT, false);
    let text = clean(&text.replace("\r\n", "\n"), MAX_TEXT, true);
    let old = current(store, user).await;
    let scripts = store.sieve_scripts(user.id).await?;
    let active = scripts.iter().find(|s| s.active).map(|s| s.name.clone());
    // the script the reply runs in front of: the one active now, else the one the
    // form's script ran in front of already
    let previous = match active {
        Some(name) if name != SCRIPT => Some(name),
        // the script the reply ran in front of, if it is still there
        _ => old
            .previous
            .clone()
            .filter(|p| scripts.iter().any(|s| &s.name == p)),
    };
    let wanted = Vacation {
        on,
        days,
        subject,
        text,
        previous: previous.clone(),
    };
    let script = write(&wanted);
    store
        .put_sieve_script(
            user.id,
            SCRIPT,
            &script,
            sieve.max_scripts,
            sieve.max_storage,
        )
        .await?;
    if wanted.on {
        store.activate_sieve_script(user.id, Some(SCRIPT)).await?;
    } else if old.on {
        store
            .activate_sieve_script(user.id, previous.as_deref())
            .await?;
    }
    Ok(wanted.on)
}

/// The Sieve script of a vacation reply.
pub fn write(v: &Vacation) -> String {
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!("{MARK} edits here are replaced by it.\n");
    out.push_str(&format!("# days: {}\n", v.days));
    out.push_str(if v.previous.is_some() {
        "require [\"vacation\", \"include\"];\n"
    } else {
        "require [\"vacation\"];\n"
    });
    out.push_str(&format!("vacation :days {}", v.days));
    if !v.subject.is_empty() {
        out.push_str(&format!(" :subject {}", quoted(&v.subject)));
    }
    out.push_str(" text:\n");
    for line in v.text.split('\n') {
        // dot-stuffing (RFC 5228 §2.4.2)
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(".\n;\n");
    if let Some(p) = &v.previous {
        out.push_str(&format!("include :personal :optional {};\n", quoted(p)));
    }
    out
}

/// The values of a script [`write`] made; `None` for any other script.
pub fn read_back(script: &str) -> Option<Vacation> {
    let mut lines = script.lines();
    if !lines.next()?.starts_with(MARK) {
        return None;
    }
    let days = lines
        .next()?
        .strip_prefix("# days: ")?
        .trim()
        .parse()
        .ok()?;
    let head = script.find("vacation :days")?;
    let rest = &script[head..];
    let line_end = rest.find('\n')?;
    let first = &rest[..line_end];
    let subject = first
        .find(":subject \"")
        .map(|i| {
            let s = &first[i + 10..];
            let s = s.strip_suffix(" text:").unwrap_or(s);
            let s = s.strip_suffix('"').unwrap_or(s);
            s.replace("\\\"", "\"").replace("\\\\", "\\")
        })
        .unwrap_or_default();
    let body = &rest[line_end + 1..];
    let end = body.find("\n.\n")?;
    let text: Vec<String> = body[..end]
        .split('\n')
        .map(|l| l.strip_prefix('.').map_or(l.to_string(), |r| r.to_string()))
        .collect();
    let previous = script
        .lines()
        .find_map(|l| l.strip_prefix("include :personal :optional \""))
        .map(|p| {
            p.trim_end_matches("\";")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        });
    Some(Vacation {
        on: false,
        days,
        subject,
        text: text.join("\n"),
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_compiles_and_reads_back_whatever_was_typed() {
        for (subject, text, previous) in [
            ("Away", "Back on Monday.", None),
            (
                "Say \"hi\" \\ bye",
                ".starts with a dot\n\n..two\nend",
                Some("my \"rules\""),
            ),
            ("", "", None),
        ] {
            let v = Vacation {
                on: false,
                days: 5,
                subject: subject.into(),
                text: text.into(),
                previous: previous.map(String::from),
            };
            let script = write(&v);
            estafeta_sieve::compile(&script, &estafeta_sieve::Limits::default())
                .unwrap_or_else(|e| panic!("{e}\n{script}"));
            assert_eq!(read_back(&script), Some(v), "{script}");
        }
        assert_eq!(read_back("keep;\n"), None);
    }
}

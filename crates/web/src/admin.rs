//! The admin pages, for users marked admin (`estafeta user add … --admin`, `user set
//! --admin`): domains, users (quota, password, admin), aliases, DKIM keys (generate,
//! retire, remove), the queue (retry, delete) and suppression lists, each a page with its list and its forms. They sign in
//! on the account page; every change is a POST with the session's form token, answered
//! with a redirect back to the section and a line saying what was done (or what was
//! wrong, in the store's words, which are the CLI's).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use estafeta_store::{NewSuppression, NewUser, Store, UserChanges};

use crate::WebState;
use crate::account::{forbidden, signed_in};
use crate::html::{escape, page};
use crate::session::{self, Session};

/// The sections, in the order of the menu.
const SECTIONS: [(&str, &str); 7] = [
    ("statistics", "Statistics"),
    ("domains", "Domains"),
    ("users", "Users"),
    ("aliases", "Aliases"),
    ("dkim", "DKIM keys"),
    ("queue", "Queue"),
    ("suppression", "Suppression lists"),
];

/// Longest list shown on one page.
const MAX_ROWS: usize = 1000;

/// The signed-in admin's session and the secret, or the answer for anyone else.
async fn admin(state: &WebState, headers: &HeaderMap) -> Result<(Session, Vec<u8>), Response> {
    let Some((session, secret, user)) = signed_in(state, headers).await else {
        return Err(Redirect::to("/account").into_response());
    };
    if !user.admin {
        return Err(forbidden("This page is for administrators."));
    }
    Ok((session, secret))
}

#[derive(serde::Deserialize, Default)]
pub struct Said {
    done: Option<String>,
    error: Option<String>,
    /// The statistics of one domain only.
    domain: Option<String>,
}

pub async fn overview(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    match admin(&state, &headers).await {
        Ok(_) => Redirect::to("/admin/statistics").into_response(),
        Err(r) => r,
    }
}

pub async fn show(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(section): Path<String>,
    Query(said): Query<Said>,
) -> Response {
    let (session, secret) = match admin(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = escape(&session.form_token(&secret));
    let store = &*state.store;
    if section == "statistics.csv" {
        return match crate::statistics::csv(store).await {
            Ok(csv) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"estafeta-statistics.csv\"",
                    ),
                ],
                csv,
            )
                .into_response(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        };
    }
    let body = match section.as_str() {
        "statistics" => crate::statistics::page(store, said.domain.as_deref()).await,
        "domains" => domains(store, &token).await,
        "users" => users(store, &token).await,
        "aliases" => aliases(store, &token).await,
        "dkim" => dkim(store, &token).await,
        "queue" => queue(store, &token).await,
        "suppression" => suppression(store, &token).await,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                page("Not found", "<p>No such section.</p>"),
            )
                .into_response();
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => format!(
            "<p class=\"error\">The store could not be read: {}</p>",
            escape(&e.to_string())
        ),
    };
    let title = SECTIONS
        .iter()
        .find(|(s, _)| *s == section)
        .map_or("Administration", |(_, t)| t);
    let menu: Vec<String> = SECTIONS
        .iter()
        .map(|(s, t)| {
            if *s == section {
                format!("<strong>{t}</strong>")
            } else {
                format!("<a href=\"/admin/{s}\">{t}</a>")
            }
        })
        .collect();
    let note = match (&said.done, &said.error) {
        (_, Some(e)) => format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)),
        (Some(d), None) => format!("<p role=\"status\">{}</p>\n", escape(d)),
        _ => String::new(),
    };
    page(
        title,
        &format!(
            "<nav>{} · <a href=\"/account\">Your account</a></nav>\n<h1>{title}</h1>\n{note}{body}",
            menu.join(" · ")
        ),
    )
}

/// A form that posts `action` with the session's token and `fields` (HTML already).
fn form(action: &str, token: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/admin/{action}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">{fields}<button type=\"submit\">{button}</button></form>"
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        escape(value)
    )
}

/// `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn date(unix: i64) -> String {
    let (y, m, d) = estafeta_net::dates::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

type Page = Result<String, estafeta_store::StoreError>;

async fn domains(store: &dyn Store, token: &str) -> Page {
    let mut rows = String::new();
    for d in store.list_domains().await?.iter().take(MAX_ROWS) {
        let (now, switch, to) = match d.tracking {
            true => ("on", "Switch off", "off"),
            false => ("off", "Switch on", "on"),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{now} {}</td><td>{}</td></tr>\n",
            escape(&d.name),
            date(d.created_at),
            form(
                "domain-tracking",
                token,
                &format!("{}{}", hidden("name", &d.name), hidden("state", to)),
                switch
            ),
            form("domain-remove", token, &hidden("name", &d.name), "Remove")
        ));
    }
    Ok(format!(
        "<table><tr><th>Domain</th><th>Added</th><th>Open and click tracking</th><th></th></tr>\n{rows}</table>\n\
         <p>Open and click tracking rewrites the links of the HTML mail a domain's users send and adds \
         an image that reports when it is shown: readers' clicks and opens are recorded. Switch it on \
         only where readers have been told (a newsletter's privacy notice).</p>\n<h2>Add a domain</h2>\n{}",
        form(
            "domain-add",
            token,
            "<label>Domain <input name=\"name\" required></label>",
            "Add"
        )
    ))
}

async fn users(store: &dyn Store, token: &str) -> Page {
    let mut rows = String::new();
    for u in store.list_users(None).await?.iter().take(MAX_ROWS) {
        let quota = if u.quota_bytes == 0 {
            "none".to_string()
        } else {
            format!("{} MB", u.quota_bytes / 1_000_000)
        };
        let a = hidden("address", &u.address);
        let (pop3, to, switch) = match u.pop3_keep {
            true => ("POP3 keeps", "delete", "POP3: delete once downloaded"),
            false => ("POP3 deletes", "keep", "POP3: keep on the server"),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{quota}</td><td>{}</td><td>{pop3}</td><td>{}{}{}{}{}</td></tr>\n",
            escape(&u.address),
            if u.admin { "admin" } else { "" },
            form(
                "user-quota",
                token,
                &format!("{a}<label>Quota (MB, 0: none) <input name=\"quota_mb\" type=\"number\" min=\"0\" required></label>"),
                "Set quota"
            ),
            form(
                "user-password",
                token,
                &format!("{a}<label>New password <input name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label>"),
                "Set password"
            ),
            form(
                "user-admin",
                token,
                &format!("{a}{}", hidden("admin", if u.admin { "no" } else { "yes" })),
                if u.admin { "Make not admin" } else { "Make admin" }
            ),
            form(
                "user-pop3",
                token,
                &format!("{a}{}", hidden("pop3", to)),
                switch
            ),
            form("user-remove", token, &a, "Remove (and all their mail)")
        ));
    }
    Ok(format!(
        "<table><tr><th>User</th><th>Quota</th><th></th><th>POP3</th><th>Change</th></tr>\n{rows}</table>\n<h2>Add a user</h2>\n{}",
        form(
            "user-add",
            token,
            "<label>Address <input name=\"address\" type=\"email\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label>\
             <label>Quota (MB, 0: none) <input name=\"quota_mb\" type=\"number\" min=\"0\" value=\"0\"></label>\
             <label><input name=\"pop3_delete\" type=\"checkbox\" value=\"yes\"> POP3 deletes messages once downloaded</label>\
             <label><input name=\"admin\" type=\"checkbox\" value=\"yes\"> Administrator</label>",
            "Add"
        )
    ))
}

async fn aliases(store: &dyn Store, token: &str) -> Page {
    let mut rows = String::new();
    for a in store.list_aliases(None).await?.iter().take(MAX_ROWS) {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&a.address),
            escape(&a.target),
            form(
                "alias-remove",
                token,
                &format!(
                    "{}{}",
                    hidden("address", &a.address),
                    hidden("target", &a.target)
                ),
                "Remove"
            )
        ));
    }
    Ok(format!(
        "<table><tr><th>Address</th><th>Goes to</th><th></th></tr>\n{rows}</table>\n<h2>Add an alias</h2>\n{}",
        form(
            "alias-add",
            token,
            "<label>Address (<code>@domain</code> for a catch-all) <input name=\"address\" required></label>\
             <label>Goes to (addresses separated by commas) <input name=\"targets\" required></label>",
            "Add"
        )
    ))
}

async fn dkim(store: &dyn Store, token: &str) -> Page {
    let mut rows = String::new();
    for k in store.list_dkim_keys(None).await?.iter().take(MAX_ROWS) {
        let which = format!(
            "{}{}",
            hidden("domain", &k.domain),
            hidden("selector", &k.selector)
        );
        let toggle = if k.active {
            form("dkim-retire", token, &which, "Retire (stop signing)")
        } else {
            form("dkim-activate", token, &which, "Sign again")
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{toggle}{}</td></tr>\n",
            escape(&k.domain),
            escape(&k.selector),
            escape(&k.algorithm),
            if k.active { "signing" } else { "retired" },
            escape(&estafeta_trust::signing::zone_line(k)),
            form("dkim-remove", token, &which, "Remove")
        ));
    }
    Ok(format!(
        "<p>Publish a key's record before mail is signed with it; keep a retired key's record a few days for mail in flight.</p>\n\
         <table><tr><th>Domain</th><th>Selector</th><th>Algorithm</th><th></th><th>DNS record</th><th></th></tr>\n{rows}</table>\n\
         <h2>Make keys</h2>\n{}",
        form(
            "dkim-generate",
            token,
            "<label>Domain <input name=\"domain\" required></label>\
             <label>Algorithm <select name=\"algorithm\"><option value=\"both\">RSA and Ed25519</option>\
             <option value=\"rsa\">RSA (2048)</option><option value=\"ed25519\">Ed25519</option></select></label>",
            "Make"
        )
    ))
}

async fn queue(store: &dyn Store, token: &str) -> Page {
    let messages = store.queue_list().await?;
    let mut rows = String::new();
    for m in messages.iter().take(MAX_ROWS) {
        let recipients: Vec<String> = m
            .recipients
            .iter()
            .map(|r| {
                format!(
                    "{} — {} ({} attempts{})",
                    escape(&r.address),
                    r.state.as_str(),
                    r.attempts,
                    r.last_reply
                        .as_deref()
                        .map(|l| format!("; last: {}", escape(l)))
                        .unwrap_or_default()
                )
            })
            .collect();
        let id = hidden("id", &m.id);
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>\n",
            escape(&m.id),
            date(m.created_at),
            escape(if m.sender.is_empty() { "<>" } else { &m.sender }),
            recipients.join("<br>"),
            form("queue-retry", token, &id, "Retry now"),
            form("queue-delete", token, &id, "Delete")
        ));
    }
    Ok(format!(
        "<p>{} messages queued.</p>\n{}\n<table><tr><th>Queue id</th><th>Accepted</th><th>Sender</th><th>Recipients</th><th></th></tr>\n{rows}</table>",
        messages.len(),
        form("queue-retry", token, "", "Retry all now")
    ))
}

async fn suppression(store: &dyn Store, token: &str) -> Page {
    let mut rows = String::new();
    for s in store.list_suppressions(None).await?.iter().take(MAX_ROWS) {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&s.domain),
            escape(&s.address),
            escape(&s.reason),
            if s.enforced {
                "refused at RCPT"
            } else {
                "listed"
            },
            form(
                "suppression-remove",
                token,
                &format!(
                    "{}{}",
                    hidden("domain", &s.domain),
                    hidden("address", &s.address)
                ),
                "Remove"
            )
        ));
    }
    Ok(format!(
        "<table><tr><th>Domain</th><th>Address</th><th>Why</th><th></th><th></th></tr>\n{rows}</table>\n\
         <h2>Add an address</h2>\n{}\n<h2>Refuse listed addresses at RCPT</h2>\n{}",
        form(
            "suppression-add",
            token,
            "<label>Domain (whose senders it concerns) <input name=\"domain\" required></label>\
             <label>Address <input name=\"address\" required></label>\
             <label>Why <input name=\"reason\"></label>",
            "Add"
        ),
        form(
            "suppression-enforce",
            token,
            "<label>Domain <input name=\"domain\" required></label>\
             <label><input name=\"on\" type=\"checkbox\" value=\"yes\"> refuse</label>",
            "Set"
        )
    ))
}

/// Every change: checks the origin, the session (an admin's) and its token, does it,
/// and sends the browser back to the section with what happened.
pub async fn change(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !session::same_origin(&headers) {
        return forbidden("This form was sent from another site.");
    }
    let (session, secret) = match admin(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let field = Fields(&form);
    if !session.form_token_matches(&secret, field.get("token")) {
        return forbidden("This form has expired: reload the page and try again.");
    }
    let section = action.split('-').next().unwrap_or("");
    let section = match section {
        "domain" | "user" => format!("{section}s"),
        "alias" => "aliases".to_string(),
        other => other.to_string(),
    };
    let done = apply(&*state.store, &action, &field).await;
    match &done {
        Ok(what) => tracing::info!(admin = %session.address, action, what, "admin change"),
        Err(why) => tracing::info!(admin = %session.address, action, why, "admin change refused"),
    }
    let (key, text) = match done {
        Ok(t) => ("done", t),
        Err(t) => ("error", t),
    };
    let query = url_encode(&text);
    Redirect::to(&format!("/admin/{section}?{key}={query}")).into_response()
}

/// A form's fields, trimmed; a missing one is empty.
struct Fields<'a>(&'a HashMap<String, String>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> &'a str {
        self.raw(name).trim()
    }

    /// As typed (a password keeps its spaces).
    fn raw(&self, name: &str) -> &'a str {
        self.0.get(name).map_or("", String::as_str)
    }
}

async fn apply(store: &dyn Store, action: &str, field: &Fields<'_>) -> Result<String, String> {
    let e = |e: estafeta_store::StoreError| e.to_string();
    let quota = |s: &str| -> Result<i64, String> {
        let mb: i64 = s
            .parse()
            .map_err(|_| format!("quota {s:?}: expected a whole number of megabytes"))?;
        mb.checked_mul(1_000_000)
            .filter(|b| *b >= 0)
            .ok_or_else(|| format!("quota {s:?}: out of range"))
    };
    match action {
        "domain-add" => {
            let d = store.add_domain(field.get("name")).await.map_err(e)?;
            Ok(format!("domain {} added", d.name))
        }
        "domain-remove" => {
            store.remove_domain(field.get("name")).await.map_err(e)?;
            Ok(format!("domain {} removed", field.get("name")))
        }
        "domain-tracking" => {
            let on = field.get("state") == "on";
            store
                .set_domain_tracking(field.get("name"), on)
                .await
                .map_err(e)?;
            Ok(format!(
                "open and click tracking {} for {}",
                if on { "on" } else { "off" },
                field.get("name")
            ))
        }
        "user-add" => {
            let quota_mb = match field.get("quota_mb") {
                "" => 0,
                q => quota(q)?,
            };
            let user = store
                .add_user(NewUser {
                    address: field.get("address").to_string(),
                    password: field.raw("password").to_string(),
                    quota_bytes: quota_mb,
                    pop3_keep: field.get("pop3_delete") != "yes",
                })
                .await
                .map_err(e)?;
            if field.get("admin") == "yes" {
                store.set_admin(&user.address, true).await.map_err(e)?;
            }
            Ok(format!("user {} added", user.address))
        }
        "user-remove" => {
            store.remove_user(field.get("address")).await.map_err(e)?;
            Ok(format!("user {} removed", field.get("address")))
        }
        "user-password" => {
            store
                .set_password(field.get("address"), field.raw("password"))
                .await
                .map_err(e)?;
            Ok(format!("password of {} changed", field.get("address")))
        }
        "user-quota" => {
            let user = store
                .update_user(
                    field.get("address"),
                    UserChanges {
                        quota_bytes: Some(quota(field.get("quota_mb"))?),
                        pop3_keep: None,
                    },
                )
                .await
                .map_err(e)?;
            Ok(format!("quota of {} set", user.address))
        }
        "user-pop3" => {
            let keep = match field.get("pop3") {
                "keep" => true,
                "delete" => false,
                other => return Err(format!("pop3 {other:?}: expected keep or delete")),
            };
            let user = store
                .update_user(
                    field.get("address"),
                    UserChanges {
                        quota_bytes: None,
                        pop3_keep: Some(keep),
                    },
                )
                .await
                .map_err(e)?;
            Ok(format!(
                "POP3 {} the mail of {} once downloaded",
                if keep { "keeps" } else { "deletes" },
                user.address
            ))
        }
        "user-admin" => {
            let on = field.get("admin") == "yes";
            store.set_admin(field.get("address"), on).await.map_err(e)?;
            Ok(format!(
                "{} is {}an administrator",
                field.get("address"),
                if on { "" } else { "not " }
            ))
        }
        "alias-add" => {
            let targets: Vec<String> = field
                .get("targets")
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            store
                .add_alias(field.get("address"), &targets)
                .await
                .map_err(e)?;
            Ok(format!("alias {} added", field.get("address")))
        }
        "alias-remove" => {
            let target = Some(field.get("target")).filter(|t| !t.is_empty());
            store
                .remove_alias(field.get("address"), target)
                .await
                .map_err(e)?;
            Ok(format!("alias {} removed", field.get("address")))
        }
        "dkim-generate" => {
            use estafeta_trust::signing::{Algorithm, create_key};
            let algorithms = match field.get("algorithm") {
                "rsa" => vec![Algorithm::Rsa],
                "ed25519" => vec![Algorithm::Ed25519],
                "both" | "" => vec![Algorithm::Rsa, Algorithm::Ed25519],
                other => return Err(format!("unknown algorithm {other:?}")),
            };
            let mut made = Vec::new();
            for a in algorithms {
                let key = create_key(store, field.get("domain"), None, a).await?;
                made.push(key.selector);
            }
            Ok(format!(
                "keys {} made for {}: publish their records",
                made.join(", "),
                field.get("domain")
            ))
        }
        "dkim-retire" | "dkim-activate" => {
            let on = action == "dkim-activate";
            store
                .set_dkim_key_active(field.get("domain"), field.get("selector"), on)
                .await
                .map_err(e)?;
            Ok(format!(
                "key {} of {} {}",
                field.get("selector"),
                field.get("domain"),
                if on { "signs again" } else { "retired" }
            ))
        }
        "dkim-remove" => {
            store
                .remove_dkim_key(field.get("domain"), field.get("selector"))
                .await
                .map_err(e)?;
            Ok(format!(
                "key {} of {} removed",
                field.get("selector"),
                field.get("domain")
            ))
        }
        "queue-retry" => {
            let id = Some(field.get("id")).filter(|i| !i.is_empty());
            let n = store.queue_retry(id).await.map_err(e)?;
            Ok(format!("{n} recipients due now"))
        }
        "queue-delete" => match store.queue_delete(field.get("id")).await.map_err(e)? {
            true => Ok(format!("{} deleted from the queue", field.get("id"))),
            false => Err(format!("{} is not in the queue", field.get("id"))),
        },
        "suppression-add" => {
            store
                .add_suppressions(&[NewSuppression {
                    domain: field.get("domain").to_string(),
                    address: field.get("address").to_string(),
                    reason: match field.get("reason") {
                        "" => "added by an administrator".to_string(),
                        r => r.to_string(),
                    },
                }])
                .await
                .map_err(e)?;
            Ok(format!(
                "{} added to the suppression list of {}",
                field.get("address"),
                field.get("domain")
            ))
        }
        "suppression-remove" => {
            store
                .remove_suppression(field.get("domain"), field.get("address"))
                .await
                .map_err(e)?;
            Ok(format!(
                "{} removed from the suppression list of {}",
                field.get("address"),
                field.get("domain")
            ))
        }
        "suppression-enforce" => {
            let on = field.get("on") == "yes";
            store
                .set_suppression_enforced(field.get("domain"), on)
                .await
                .map_err(e)?;
            Ok(format!(
                "{}'s list is {}",
                field.get("domain"),
                if on {
                    "refused at RCPT"
                } else {
                    "kept, not refused"
                }
            ))
        }
        other => Err(format!("unknown change {other:?}")),
    }
}

/// `application/x-www-form-urlencoded` value encoding (unreserved characters kept).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_and_encoding() {
        assert_eq!(super::date(0), "1970-01-01 00:00");
        assert_eq!(super::date(1_795_000_000), "2026-11-18 11:06");
        assert_eq!(super::url_encode("a b/é"), "a%20b%2F%C3%A9");
    }
}

//! JMAP (RFC 8620 core, RFC 8621 mail, RFC 9007… not MDN) over the web listener: the
//! session resource, the API endpoint that runs a request's method calls in order (with
//! back-references, RFC 8620 §3.7), blob upload and download, and push over EventSource.
//! Each method family lives in its own module; they all read and write through the store's
//! traits, so IMAP and JMAP see one mailbox and one MODSEQ (`state`).
//!
//! Bounds (announced in the session's `urn:ietf:params:jmap:core` capability):
//! a request body of at most [`MAX_SIZE_REQUEST`] octets, at most [`MAX_CALLS`] method
//! calls, [`MAX_OBJECTS_IN_GET`] ids per `/get` and [`MAX_OBJECTS_IN_SET`] changes per
//! `/set`, [`MAX_CONCURRENT_REQUESTS`] requests of one user at a time, [`MAX_PROPERTIES`]
//! properties asked for, body values of at most [`MAX_BODY_VALUE`] octets; JSON nested at most
//! 128 levels (serde_json's limit), filters at most [`query::MAX_FILTER_DEPTH`] levels,
//! uploads of at most the SMTP message size limit and [`MAX_UPLOADS_HELD`] of them per
//! user for a day.

pub mod auth;
mod blobs;
mod email_set;
mod emails;
mod identities;
pub mod ids;
pub mod inputs;
mod mailboxes;
pub mod message;
mod push;
pub mod query;
mod snippets;
mod state;
mod submission;
mod threads;
mod vacation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use estafeta_store::User;
use serde_json::{Map, Value, json};

use crate::WebState;
use crate::routes::Client;

pub use blobs::{download as blobs_download, upload as blobs_upload};
pub use push::eventsource;
pub use submission::{Submissions, Submitter};
pub use threads::ThreadKeys;

pub const CORE: &str = "urn:ietf:params:jmap:core";
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
pub const SUBMISSION: &str = "urn:ietf:params:jmap:submission";
pub const VACATION: &str = "urn:ietf:params:jmap:vacationresponse";

/// The largest API request body.
pub const MAX_SIZE_REQUEST: usize = 4 * 1024 * 1024;
/// Most method calls in one request.
pub const MAX_CALLS: usize = 32;
/// Most ids one `/get` reads.
pub const MAX_OBJECTS_IN_GET: usize = 500;
/// Most creations, updates and destructions in one `/set`.
pub const MAX_OBJECTS_IN_SET: usize = 500;
/// Requests of one user served at once.
pub const MAX_CONCURRENT_REQUESTS: usize = 4;
/// Most names in a `properties` or `bodyProperties` list.
pub const MAX_PROPERTIES: usize = 200;
/// Most octets of one body value an `Email/get` returns (a larger `maxBodyValueBytes`,
/// or none, is lowered to it; the value says it was truncated).
pub const MAX_BODY_VALUE: usize = 4 * 1024 * 1024;
/// Uploads of one user at once.
pub const MAX_CONCURRENT_UPLOADS: usize = 4;
/// Octets of uploads one user holds (a day each), as multiples of the largest upload.
pub const MAX_UPLOADS_HELD: i64 = 4;

/// A method's failure (RFC 8620 §3.6.2): its type, and a description.
#[derive(Debug)]
pub struct MethodError {
    pub kind: &'static str,
    pub description: String,
}

impl MethodError {
    pub fn new(kind: &'static str, description: impl Into<String>) -> MethodError {
        MethodError {
            kind,
            description: description.into(),
        }
    }
    pub fn invalid(description: impl Into<String>) -> MethodError {
        MethodError::new("invalidArguments", description)
    }
    pub fn server(e: impl std::fmt::Display) -> MethodError {
        tracing::warn!(error = %e, "JMAP method failed");
        MethodError::new("serverFail", e.to_string())
    }
}

impl From<estafeta_store::StoreError> for MethodError {
    fn from(e: estafeta_store::StoreError) -> MethodError {
        MethodError::server(e)
    }
}

pub type MethodResult = Result<Value, MethodError>;

/// What a method call runs with.
pub struct Ctx<'a> {
    pub state: &'a WebState,
    pub user: &'a User,
    pub client: Client,
    /// Creation ids of this request (`#name` references in ids), to the ids made.
    pub created: HashMap<String, String>,
}

impl Ctx<'_> {
    pub fn account_id(&self) -> String {
        ids::account(self.user.id)
    }

    /// Checks `accountId` of a call.
    pub fn check_account(&self, args: &Value) -> Result<(), MethodError> {
        match args.get("accountId").and_then(Value::as_str) {
            Some(a) if a == self.account_id() => Ok(()),
            Some(_) => Err(MethodError::new("accountNotFound", "no such account")),
            None => Err(MethodError::invalid("accountId is missing")),
        }
    }

    /// An id as given, or the one a `#creation` reference of this request made.
    pub fn resolve_id(&self, id: &str) -> Option<String> {
        match id.strip_prefix('#') {
            Some(name) => self.created.get(name).cloned(),
            None => Some(id.to_string()),
        }
    }
}

/// Requests in progress per user, for [`MAX_CONCURRENT_REQUESTS`].
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<i64, usize>>);

pub struct InFlightSlot<'a> {
    map: &'a InFlight,
    user: i64,
}

impl InFlight {
    pub fn take(&self, user: i64, max: usize) -> Option<InFlightSlot<'_>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(user).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(InFlightSlot { map: self, user })
    }
}

impl Drop for InFlightSlot<'_> {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.user);
            }
        }
    }
}

/// An RFC 7807 problem answer of the API endpoint (RFC 8620 §3.6.1).
pub fn problem(status: StatusCode, kind: &str, detail: &str) -> Response {
    let mut body = json!({"type": kind, "status": status.as_u16(), "detail": detail});
    if kind == "urn:ietf:params:jmap:error:limit"
        && let Some(limit) = detail.split(':').next()
    {
        body["limit"] = Value::String(limit.to_string());
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// The base of the URLs the session names: how this client reached us.
fn base_url(state: &WebState, client: &Client, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| state.config.hostname.clone());
    let scheme = if client.secure { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// `GET /.well-known/jmap` and `/jmap/session`: the session resource (RFC 8620 §2).
pub async fn session(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let user = match auth::user(&state, &client, &headers, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    Json(session_object(&state, &client, &headers, &user)).into_response()
}

fn session_object(state: &WebState, client: &Client, headers: &HeaderMap, user: &User) -> Value {
    let base = base_url(state, client, headers);
    let account = ids::account(user.id);
    let max_upload = state.config.smtp.max_message_size;
    json!({
        "capabilities": {
            CORE: {
                "maxSizeUpload": max_upload,
                "maxConcurrentUpload": MAX_CONCURRENT_UPLOADS,
                "maxSizeRequest": MAX_SIZE_REQUEST,
                "maxConcurrentRequests": MAX_CONCURRENT_REQUESTS,
                "maxCallsInRequest": MAX_CALLS,
                "maxObjectsInGet": MAX_OBJECTS_IN_GET,
                "maxObjectsInSet": MAX_OBJECTS_IN_SET,
                "collationAlgorithms": ["i;ascii-casemap", "i;ascii-numeric", "i;unicode-casemap"],
            },
            MAIL: {},
            SUBMISSION: {},
            VACATION: {},
        },
        "accounts": {
            account.clone(): {
                "name": user.address,
                "isPersonal": true,
                "isReadOnly": false,
                "accountCapabilities": {
                    MAIL: {
                        "maxMailboxesPerEmail": null,
                        "maxMailboxDepth": null,
                        "maxSizeMailboxName": mailboxes::MAX_NAME,
                        "maxSizeAttachmentsPerEmail": max_upload,
                        "emailQuerySortOptions": query::SORTS,
                        "mayCreateTopLevelMailbox": true,
                    },
                    SUBMISSION: {
                        "maxDelayedSend": 0,
                        "submissionExtensions": {},
                    },
                    VACATION: {},
                },
            },
        },
        "primaryAccounts": {
            MAIL: account.clone(),
            SUBMISSION: account.clone(),
            VACATION: account.clone(),
        },
        "username": user.address,
        "apiUrl": format!("{base}/jmap/api"),
        "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?type={{type}}"),
        "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
        "eventSourceUrl": format!("{base}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
        "state": "1",
    })
}

/// `POST /jmap/api`: a request's method calls, in order (RFC 8620 §3).
pub async fn api(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match auth::user(&state, &client, &headers, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(_slot) = state.jmap_in_flight.take(user.id, MAX_CONCURRENT_REQUESTS) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:ietf:params:jmap:error:limit",
            "maxConcurrentRequests: wait for your other requests",
        );
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "urn:ietf:params:jmap:error:notJSON",
                &format!("the request is not JSON: {e}"),
            );
        }
    };
    let (using, calls, created) = match read_request(&request) {
        Ok(r) => r,
        Err(detail) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "urn:ietf:params:jmap:error:notRequest",
                &detail,
            );
        }
    };
    for capability in &using {
        if ![CORE, MAIL, SUBMISSION, VACATION].contains(&capability.as_str()) {
            return problem(
                StatusCode::BAD_REQUEST,
                "urn:ietf:params:jmap:error:unknownCapability",
                &format!("unknown capability {capability}"),
            );
        }
    }
    if calls.len() > MAX_CALLS {
        return problem(
            StatusCode::BAD_REQUEST,
            "urn:ietf:params:jmap:error:limit",
            &format!("maxCallsInRequest: at most {MAX_CALLS} method calls"),
        );
    }
    let mut ctx = Ctx {
        state: &state,
        user: &user,
        client,
        created: created.clone().unwrap_or_default(),
    };
    let mut responses: Vec<Value> = Vec::with_capacity(calls.len());
    for (name, args, call_id) in calls {
        let args = match resolve_references(args, &responses) {
            Ok(a) => a,
            Err(e) => {
                responses.push(error_response(&e, &call_id));
                continue;
            }
        };
        let needs = capability_of(&name);
        if needs.is_some_and(|c| !using.iter().any(|u| u == c)) {
            responses.push(error_response(
                &MethodError::new(
                    "unknownMethod",
                    format!("{name} needs {} in using", needs.unwrap_or(CORE)),
                ),
                &call_id,
            ));
            continue;
        }
        match dispatch(&mut ctx, &name, args).await {
            Ok(outputs) => {
                for (n, v) in outputs {
                    responses.push(json!([n, v, call_id]));
                }
            }
            Err(e) => responses.push(error_response(&e, &call_id)),
        }
    }
    let mut out = json!({"methodResponses": responses, "sessionState": "1"});
    if created.is_some() {
        out["createdIds"] = json!(ctx.created);
    }
    Json(out).into_response()
}

type Call = (String, Map<String, Value>, String);
/// A request's `using`, method calls and `createdIds`.
type Request = (Vec<String>, Vec<Call>, Option<HashMap<String, String>>);

/// `using`, the method calls and `createdIds` of a request object.
fn read_request(v: &Value) -> Result<Request, String> {
    let obj = v.as_object().ok_or("the request is not a JSON object")?;
    let using = obj
        .get("using")
        .and_then(Value::as_array)
        .ok_or("using is missing or not an array")?
        .iter()
        .map(|u| {
            u.as_str()
                .map(str::to_string)
                .ok_or("using holds a non-string")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let calls = obj
        .get("methodCalls")
        .and_then(Value::as_array)
        .ok_or("methodCalls is missing or not an array")?;
    let mut out = Vec::with_capacity(calls.len().min(MAX_CALLS + 1));
    for c in calls.iter().take(MAX_CALLS + 1) {
        let parts = c
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or("a method call is not [name, arguments, id]")?;
        let name = parts[0].as_str().ok_or("a method name is not a string")?;
        let args = parts[1]
            .as_object()
            .ok_or("method arguments are not an object")?;
        let id = parts[2]
            .as_str()
            .ok_or("a method call id is not a string")?;
        out.push((name.to_string(), args.clone(), id.to_string()));
    }
    if calls.len() > MAX_CALLS {
        // counted above the bound only to be refused by the caller
        out.push((String::new(), Map::new(), String::new()));
    }
    let created = match obj.get("createdIds") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        v.as_str()
                            .ok_or("createdIds holds a non-string")?
                            .to_string(),
                    ))
                })
                .collect::<Result<HashMap<_, _>, &str>>()?,
        ),
        Some(_) => return Err("createdIds is not an object".into()),
    };
    Ok((using, out, created))
}

fn error_response(e: &MethodError, call_id: &str) -> Value {
    json!(["error", {"type": e.kind, "description": e.description}, call_id])
}

/// The capability a method needs in `using`.
fn capability_of(name: &str) -> Option<&'static str> {
    let family = name.split('/').next().unwrap_or("");
    match family {
        "Core" | "Blob" => Some(CORE),
        "Mailbox" | "Email" | "Thread" | "SearchSnippet" => Some(MAIL),
        "Identity" | "EmailSubmission" => Some(SUBMISSION),
        "VacationResponse" => Some(VACATION),
        _ => None,
    }
}

/// Arguments whose names start with `#` replaced by the value their result reference
/// points at (RFC 8620 §3.7). Besides the top level, references inside argument objects
/// (a filter's `#inMailbox`, as jmapc and Fastmail's clients write them) are resolved
/// too; the walk uses a stack of its own, over JSON already bounded to 128 levels.
fn resolve_references(
    args: Map<String, Value>,
    responses: &[Value],
) -> Result<Map<String, Value>, MethodError> {
    let mut root = Value::Object(args);
    let mut stack: Vec<(&mut Value, bool)> = vec![(&mut root, false)];
    while let Some((v, at_filter)) = stack.pop() {
        let Value::Object(map) = v else { continue };
        let refs: Vec<String> = map.keys().filter(|k| k.starts_with('#')).cloned().collect();
        for key in refs {
            let plain = key[1..].to_string();
            let value = map.remove(&key).unwrap_or(Value::Null);
            if map.contains_key(&plain) {
                return Err(MethodError::invalid(format!(
                    "{plain} given both plainly and as a reference"
                )));
            }
            map.insert(plain, resolve_one(&key[1..], &value, responses)?);
        }
        // nested references are read in filters only: elsewhere (`onSuccessUpdateEmail`,
        // `create`) a `#` key names a creation id
        for (key, child) in map.iter_mut() {
            if child.is_object() && (key == "filter" || at_filter) {
                stack.push((child, true));
            }
        }
    }
    match root {
        Value::Object(m) => Ok(m),
        _ => Err(MethodError::invalid("arguments are not an object")),
    }
}

/// The value one ResultReference points at.
fn resolve_one(plain: &str, value: &Value, responses: &[Value]) -> Result<Value, MethodError> {
    let bad = || {
        MethodError::new(
            "invalidResultReference",
            format!("the reference of #{plain} is not a ResultReference"),
        )
    };
    let result_of = value
        .get("resultOf")
        .and_then(Value::as_str)
        .ok_or_else(bad)?;
    let name = value.get("name").and_then(Value::as_str).ok_or_else(bad)?;
    let path = value.get("path").and_then(Value::as_str).ok_or_else(bad)?;
    let response = responses
        .iter()
        .find(|r| r[2].as_str() == Some(result_of) && r[0].as_str() == Some(name))
        .ok_or_else(|| {
            MethodError::new(
                "invalidResultReference",
                format!("no {name} response with call id {result_of} before this call"),
            )
        })?;
    pointer(&response[1], path).ok_or_else(|| {
        MethodError::new(
            "invalidResultReference",
            format!("{path} is not in the {name} response"),
        )
    })
}

/// A JSON pointer with JMAP's `*` (RFC 8620 §3.7): over an array, the values of the rest
/// of the path for each item, arrays among them flattened. Iterative over the path's
/// segments (at most the path's length, which the request bounds).
pub fn pointer(root: &Value, path: &str) -> Option<Value> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<String> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    // each entry: a value reached, and whether a `*` was passed (results then flatten)
    let mut current: Vec<Value> = vec![root.clone()];
    let mut spread = false;
    for seg in &segments {
        let mut next = Vec::new();
        for v in current {
            match (&v, seg.as_str()) {
                (Value::Array(items), "*") => next.extend(items.iter().cloned()),
                (Value::Array(items), i) => next.push(items.get(i.parse::<usize>().ok()?)?.clone()),
                (Value::Object(m), k) => next.push(m.get(k)?.clone()),
                _ => return None,
            }
        }
        if seg == "*" {
            spread = true;
        }
        current = next;
    }
    if !spread {
        return current.into_iter().next();
    }
    let mut flat = Vec::new();
    for v in current {
        match v {
            Value::Array(items) => flat.extend(items),
            other => flat.push(other),
        }
    }
    Some(Value::Array(flat))
}

/// Runs one method: its responses (more than one when `/set` implies another call).
async fn dispatch(
    ctx: &mut Ctx<'_>,
    name: &str,
    args: Map<String, Value>,
) -> Result<Vec<(String, Value)>, MethodError> {
    let args = Value::Object(args);
    let one = |v: Value| Ok(vec![(name.to_string(), v)]);
    match name {
        "Core/echo" => one(args),
        "Blob/copy" => Err(MethodError::new(
            "unknownMethod",
            "one account: nothing to copy blobs between",
        )),
        "Mailbox/get" => one(mailboxes::get(ctx, &args).await?),
        "Mailbox/changes" => one(mailboxes::changes(ctx, &args).await?),
        "Mailbox/query" => one(mailboxes::query(ctx, &args).await?),
        "Mailbox/queryChanges" => Err(MethodError::new(
            "cannotCalculateChanges",
            "query Mailbox/query again",
        )),
        "Mailbox/set" => one(mailboxes::set(ctx, &args).await?),
        "Email/get" => one(emails::get(ctx, &args).await?),
        "Email/changes" => one(emails::changes(ctx, &args).await?),
        "Email/query" => one(query::query(ctx, &args).await?),
        "Email/queryChanges" => one(query::query_changes(ctx, &args).await?),
        "Email/set" => one(email_set::set(ctx, &args).await?),
        "Email/import" => one(email_set::import(ctx, &args).await?),
        "Email/parse" => one(emails::parse(ctx, &args).await?),
        "Email/copy" => Err(MethodError::new(
            "unknownMethod",
            "one account: use Email/set mailboxIds",
        )),
        "Thread/get" => one(threads::get(ctx, &args).await?),
        "Thread/changes" => one(threads::changes(ctx, &args).await?),
        "SearchSnippet/get" => one(snippets::get(ctx, &args).await?),
        "Identity/get" => one(identities::get(ctx, &args).await?),
        "Identity/changes" => one(identities::changes(ctx, &args).await?),
        "Identity/set" => one(identities::set(ctx, &args).await?),
        "EmailSubmission/get" => one(submission::get(ctx, &args).await?),
        "EmailSubmission/changes" => Err(MethodError::new(
            "cannotCalculateChanges",
            "submissions are not kept: use EmailSubmission/get",
        )),
        "EmailSubmission/query" => one(submission::query(ctx, &args).await?),
        "EmailSubmission/set" => submission::set(ctx, &args).await,
        "VacationResponse/get" => one(vacation::get(ctx, &args).await?),
        "VacationResponse/set" => one(vacation::set(ctx, &args).await?),
        _ => Err(MethodError::new(
            "unknownMethod",
            format!("no method {name}"),
        )),
    }
}

/// The ids a `/get` asks for (`None`: all), bounded by [`MAX_OBJECTS_IN_GET`].
pub fn get_ids(ctx: &Ctx<'_>, args: &Value) -> Result<Option<Vec<String>>, MethodError> {
    match args.get("ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            if a.len() > MAX_OBJECTS_IN_GET {
                return Err(MethodError::new(
                    "requestTooLarge",
                    format!("at most {MAX_OBJECTS_IN_GET} ids per get"),
                ));
            }
            a.iter()
                .map(|v| {
                    let s = v
                        .as_str()
                        .ok_or_else(|| MethodError::invalid("ids holds a non-string"))?;
                    Ok(ctx.resolve_id(s).unwrap_or_else(|| s.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(_) => Err(MethodError::invalid("ids is not an array")),
    }
}

/// The `properties` a `/get` asks for (`None`: the defaults).
pub fn get_properties(args: &Value) -> Result<Option<Vec<String>>, MethodError> {
    match args.get("properties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() > MAX_PROPERTIES => Err(MethodError::invalid(format!(
            "at most {MAX_PROPERTIES} properties"
        ))),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| MethodError::invalid("properties holds a non-string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(MethodError::invalid("properties is not an array")),
    }
}

/// Counts the changes a `/set` asks for against [`MAX_OBJECTS_IN_SET`].
pub fn check_set_size(args: &Value) -> Result<(), MethodError> {
    let n = args
        .get("create")
        .and_then(Value::as_object)
        .map_or(0, Map::len)
        + args
            .get("update")
            .and_then(Value::as_object)
            .map_or(0, Map::len)
        + args
            .get("destroy")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
    if n > MAX_OBJECTS_IN_SET {
        return Err(MethodError::new(
            "requestTooLarge",
            format!("at most {MAX_OBJECTS_IN_SET} changes per set"),
        ));
    }
    Ok(())
}

/// What a `/set` did, object by object (RFC 8620 §5.3).
#[derive(Default)]
pub struct SetOutcome {
    pub created: Map<String, Value>,
    pub updated: Map<String, Value>,
    pub destroyed: Vec<String>,
    pub not_created: Map<String, Value>,
    pub not_updated: Map<String, Value>,
    pub not_destroyed: Map<String, Value>,
}

impl SetOutcome {
    /// The `/set` response.
    pub fn response(self, ctx: &Ctx<'_>, old_state: Value, new_state: Value) -> Value {
        json!({
            "accountId": ctx.account_id(),
            "oldState": old_state,
            "newState": new_state,
            "created": self.created,
            "updated": self.updated,
            "destroyed": self.destroyed,
            "notCreated": self.not_created,
            "notUpdated": self.not_updated,
            "notDestroyed": self.not_destroyed,
        })
    }

    /// Refuses every creation, update or destruction (`part`: "create", "update",
    /// "destroy") the call asks for with `error`.
    pub fn refuse_all(&mut self, args: &Value, part: &str, error: &Value) {
        let ids: Vec<String> = match args.get(part) {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let into = match part {
            "create" => &mut self.not_created,
            "update" => &mut self.not_updated,
            _ => &mut self.not_destroyed,
        };
        for id in ids {
            into.insert(id, error.clone());
        }
    }

    /// Whether anything was created, updated or destroyed.
    pub fn changed(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty() || !self.destroyed.is_empty()
    }
}

/// `stateMismatch` when the call's `ifInState` is not the `current` state.
pub fn check_in_state(args: &Value, current: &str, what: &str) -> Result<(), MethodError> {
    match args.get("ifInState").and_then(Value::as_str) {
        Some(s) if s != current => Err(MethodError::new(
            "stateMismatch",
            format!("the {what} changed since that state"),
        )),
        _ => Ok(()),
    }
}

/// The `limit` of a query as asked (`None`: not given), and as answered (at most
/// [`query::MAX_LIMIT`]).
pub fn read_limit(args: &Value) -> Result<(Option<usize>, usize), MethodError> {
    let asked = match args.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| MethodError::invalid("limit is a non-negative integer"))?
                as usize,
        ),
    };
    Ok((
        asked,
        asked.unwrap_or(query::MAX_LIMIT).min(query::MAX_LIMIT),
    ))
}

/// A SetError (RFC 8620 §5.3).
pub fn set_error(kind: &str, description: impl Into<String>) -> Value {
    json!({"type": kind, "description": description.into()})
}

/// A `/changes` `maxChanges` argument.
pub fn max_changes(args: &Value) -> Result<Option<usize>, MethodError> {
    match args.get("maxChanges") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n as usize)),
            _ => Err(MethodError::invalid(
                "maxChanges must be a positive integer",
            )),
        },
    }
}

/// The `sinceState` of a `/changes`.
pub fn since_state(args: &Value) -> Result<&str, MethodError> {
    args.get("sinceState")
        .and_then(Value::as_str)
        .ok_or_else(|| MethodError::invalid("sinceState is missing"))
}

//! The NOTIFY command (RFC 5465 §3.1, §8): `NOTIFY NONE`, or `NOTIFY SET [STATUS]`
//! followed by event groups `(filter events)`. The filters are `selected`,
//! `selected-delayed`, `inboxes`, `personal`, `subscribed`, `subtree <mailbox or list>`
//! and `mailboxes <mailbox or list>`; the events a parenthesised list or `NONE`. The
//! events of a group may also be given without the parentheses, as the examples of
//! RFC 5465 §3.1 did before erratum 1804: a group's filter takes one argument at most, so
//! the two forms cannot be confused.
//!
//! Bounds (beyond them the command gets `BAD`; the parser never recurses):
//! - at most [`MAX_GROUPS`] event groups;
//! - at most [`MAX_NAMES`] mailbox names in all the `subtree` and `mailboxes` filters;
//! - at most [`MAX_EVENTS`] events in one group;
//! - at most [`MAX_FETCH_ATTS`] FETCH attributes after `MessageNew`.
//!
//! The rules of RFC 5465 the parser enforces (`BAD`):
//! - `SET` names at least one event group, and at most one of `selected` and
//!   `selected-delayed` (§6.1);
//! - a selected filter names message events only (MessageNew, MessageExpunge,
//!   FlagChange, AnnotationChange) (§6.1);
//! - with a selected filter, MessageNew and MessageExpunge come together, and FlagChange
//!   or AnnotationChange need both (§5; as Dovecot reads it, and imaptest's `notify`
//!   script expects: another filter may name MessageNew or MessageExpunge alone);
//! - FETCH attributes follow MessageNew only in a selected filter's group.
//!
//! An event the server does not support (AnnotationChange: no ANNOTATE here; an unknown
//! atom) parses, and is refused by the session with `NO [BADEVENT (…)]` (§3.1), for
//! which [`unsupported`] names them.

use crate::command::*;
use crate::parser::{PResult, Reader, fetch_item};

/// Event groups in one NOTIFY SET.
pub(crate) const MAX_GROUPS: usize = 32;
/// Mailbox names in all the filters of one NOTIFY SET.
pub(crate) const MAX_NAMES: usize = 100;
/// Events in one group (there are eight kinds; repeats are allowed up to this).
pub(crate) const MAX_EVENTS: usize = 16;
/// FETCH attributes after MessageNew.
pub(crate) const MAX_FETCH_ATTS: usize = 64;

/// The events the server supports, as `BADEVENT` lists them.
pub(crate) const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName \
     SubscriptionChange MailboxMetadataChange ServerMetadataChange";

/// The events of a NOTIFY SET the server does not support, each named once.
pub(crate) fn unsupported(set: &NotifySet) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in set.groups.iter().flat_map(|g| &g.events) {
        if matches!(e, NotifyEvent::AnnotationChange | NotifyEvent::Other(_))
            && !out.iter().any(|o| o.eq_ignore_ascii_case(e.name()))
        {
            out.push(e.name().to_string());
        }
    }
    out
}

/// After `NOTIFY`: the space, then `NONE` or `SET …`.
pub(crate) fn parse(r: &mut Reader<'_>) -> PResult<CommandBody> {
    r.sp()?;
    if r.keyword("NONE") {
        return Ok(CommandBody::Notify(None));
    }
    if !r.keyword("SET") {
        return Err("NOTIFY is followed by SET or NONE".into());
    }
    r.sp()?;
    let status = r.keyword("STATUS");
    if status {
        r.sp()?;
    }
    let mut groups = Vec::new();
    let mut names = 0usize;
    loop {
        if groups.len() == MAX_GROUPS {
            return Err(format!("more than {MAX_GROUPS} NOTIFY event groups"));
        }
        groups.push(group(r, &mut names)?);
        if !r.eat(b' ') {
            break;
        }
    }
    let set = NotifySet { status, groups };
    check(&set)?;
    Ok(CommandBody::Notify(Some(set)))
}

/// `(filter events)`
fn group(r: &mut Reader<'_>, names: &mut usize) -> PResult<NotifyGroup> {
    r.expect(b'(')?;
    let filter = if r.keyword("selected-delayed") {
        NotifyFilter::SelectedDelayed
    } else if r.keyword("selected") {
        NotifyFilter::Selected
    } else if r.keyword("inboxes") {
        NotifyFilter::Inboxes
    } else if r.keyword("personal") {
        NotifyFilter::Personal
    } else if r.keyword("subscribed") {
        NotifyFilter::Subscribed
    } else if r.keyword("subtree") {
        r.sp()?;
        NotifyFilter::Subtree(mailboxes(r, names)?)
    } else if r.keyword("mailboxes") {
        r.sp()?;
        NotifyFilter::Mailboxes(mailboxes(r, names)?)
    } else {
        return Err("unknown NOTIFY filter".into());
    };
    r.sp()?;
    let events = if r.keyword("NONE") {
        Vec::new()
    } else if r.eat(b'(') {
        let events = events(r, b')')?;
        r.expect(b')')?;
        events
    } else {
        // the events without their parentheses (RFC 5465 §3.1 before erratum 1804)
        events(r, b')')?
    };
    r.expect(b')')?;
    Ok(NotifyGroup { filter, events })
}

/// `mailbox` or `(mailbox mailbox …)`, counted against [`MAX_NAMES`].
fn mailboxes(r: &mut Reader<'_>, names: &mut usize) -> PResult<Vec<String>> {
    let mut out = Vec::new();
    let list = r.eat(b'(');
    loop {
        if *names == MAX_NAMES {
            return Err(format!("more than {MAX_NAMES} mailbox names in NOTIFY"));
        }
        *names += 1;
        out.push(r.mailbox()?);
        if !list || r.eat(b')') {
            return Ok(out);
        }
        r.sp()?;
    }
}

/// Events separated by spaces, up to `close` (which is left to the caller); at least one.
fn events(r: &mut Reader<'_>, close: u8) -> PResult<Vec<NotifyEvent>> {
    let mut out = Vec::new();
    loop {
        if out.len() == MAX_EVENTS {
            return Err(format!("more than {MAX_EVENTS} events in a NOTIFY group"));
        }
        let name = r.atom()?;
        let event = match name.to_ascii_lowercase().as_str() {
            "messagenew" => {
                let mut atts = Vec::new();
                // `MessageNew (fetch-att …)`: a `(` after the space is its list
                if r.bytes.get(r.pos..r.pos + 2) == Some(b" (") {
                    r.sp()?;
                    atts = r.paren_list(fetch_item)?.into_iter().flatten().collect();
                    if atts.is_empty() {
                        return Err("MessageNew's FETCH attributes are not empty".into());
                    }
                    if atts.len() > MAX_FETCH_ATTS {
                        return Err(format!(
                            "more than {MAX_FETCH_ATTS} FETCH attributes after MessageNew"
                        ));
                    }
                }
                NotifyEvent::MessageNew(atts)
            }
            "messageexpunge" => NotifyEvent::MessageExpunge,
            "flagchange" => NotifyEvent::FlagChange,
            "annotationchange" => NotifyEvent::AnnotationChange,
            "mailboxname" => NotifyEvent::MailboxName,
            "subscriptionchange" => NotifyEvent::SubscriptionChange,
            "mailboxmetadatachange" => NotifyEvent::MailboxMetadataChange,
            "servermetadatachange" => NotifyEvent::ServerMetadataChange,
            _ => NotifyEvent::Other(name),
        };
        out.push(event);
        if r.peek() == Some(close) {
            return Ok(out);
        }
        r.sp()?;
    }
}

/// The rules of RFC 5465 §5 and §6.1 (see the module comment).
fn check(set: &NotifySet) -> PResult<()> {
    if set.groups.iter().filter(|g| g.filter.is_selected()).count() > 1 {
        return Err("only one of selected and selected-delayed may be given".into());
    }
    for g in &set.groups {
        let has = |f: fn(&NotifyEvent) -> bool| g.events.iter().any(f);
        let new = has(|e| matches!(e, NotifyEvent::MessageNew(_)));
        let expunge = has(|e| matches!(e, NotifyEvent::MessageExpunge));
        let flags = has(|e| matches!(e, NotifyEvent::FlagChange | NotifyEvent::AnnotationChange));
        if g.filter.is_selected() {
            if let Some(e) = g
                .events
                .iter()
                .find(|e| !e.is_message_event() && !matches!(e, NotifyEvent::Other(_)))
            {
                return Err(format!(
                    "{} is not a message event: not allowed with the selected filter",
                    e.name()
                ));
            }
        } else if has(|e| matches!(e, NotifyEvent::MessageNew(atts) if !atts.is_empty())) {
            return Err("FETCH attributes after MessageNew only with the selected filter".into());
        }
        // for the selected mailbox only, as Dovecot and imaptest read §5: elsewhere either
        // alone asks for STATUS when it happens
        if g.filter.is_selected() && new != expunge {
            return Err("MessageNew and MessageExpunge are given together".into());
        }
        if g.filter.is_selected() && flags && !new {
            return Err(
                "FlagChange and AnnotationChange need MessageNew and MessageExpunge".into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_command;

    fn notify(text: &str) -> Result<Option<NotifySet>, String> {
        match parse_command(format!("a {text}\r\n").as_bytes()) {
            Ok(Command {
                body: CommandBody::Notify(set),
                ..
            }) => Ok(set),
            Ok(other) => panic!("not NOTIFY: {other:?}"),
            Err(e) => Err(e.message),
        }
    }

    fn set(text: &str) -> NotifySet {
        notify(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .expect("SET")
    }

    #[test]
    fn none_and_set() {
        assert_eq!(notify("NOTIFY NONE"), Ok(None));
        assert_eq!(notify("notify none"), Ok(None));
        let s = set(
            "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) \
             (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
        );
        assert!(!s.status);
        assert_eq!(s.groups.len(), 2);
        assert_eq!(s.groups[0].filter, NotifyFilter::Selected);
        assert_eq!(
            s.groups[0].events,
            [
                NotifyEvent::MessageNew(vec![FetchItem::Uid, FetchItem::Flags]),
                NotifyEvent::MessageExpunge,
                NotifyEvent::FlagChange
            ]
        );
        assert_eq!(s.groups[1].filter, NotifyFilter::Personal);
        assert_eq!(s.groups[1].events.len(), 4);
        assert!(unsupported(&s).is_empty());
    }

    #[test]
    fn filters_and_forms() {
        let s = set(
            "NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge)) \
             (mailboxes (inbox \"a b\" Sent) (MessageNew MessageExpunge FlagChange)) \
             (selected-delayed NONE) (inboxes (MailboxMetadataChange)) \
             (subscribed (SubscriptionChange ServerMetadataChange))",
        );
        assert!(s.status);
        assert_eq!(
            s.groups[0].filter,
            NotifyFilter::Subtree(vec!["Lists".into()])
        );
        assert_eq!(
            s.groups[1].filter,
            NotifyFilter::Mailboxes(vec!["INBOX".into(), "a b".into(), "Sent".into()])
        );
        assert_eq!(s.groups[2].filter, NotifyFilter::SelectedDelayed);
        assert!(s.groups[2].events.is_empty());
        assert_eq!(s.groups[3].filter, NotifyFilter::Inboxes);
        assert_eq!(s.groups[4].filter, NotifyFilter::Subscribed);
        // the events without parentheses, as RFC 5465's examples first had them
        let bare = set(
            "NOTIFY SET (selected MessageNew (UID FLAGS) MessageExpunge FlagChange) \
             (personal MessageNew MessageExpunge MailboxName SubscriptionChange)",
        );
        let paren = set(
            "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) \
             (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
        );
        assert_eq!(bare, paren);
        // fetch macros and sections
        let s = set(
            "NOTIFY SET (selected (MessageNew (FAST BODY.PEEK[HEADER.FIELDS (FROM)]) MessageExpunge))",
        );
        let NotifyEvent::MessageNew(atts) = &s.groups[0].events[0] else {
            panic!()
        };
        assert_eq!(atts.len(), 4);
        // outside the selected mailbox, MessageNew or MessageExpunge alone (imaptest)
        let s = set("NOTIFY SET STATUS (mailboxes Lists (MessageExpunge))");
        assert_eq!(s.groups[0].events, [NotifyEvent::MessageExpunge]);
        set("NOTIFY SET (subtree Lists (MessageNew))");
    }

    #[test]
    fn unsupported_events_parse_for_badevent() {
        let s = set("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange XFoo xfoo))");
        assert_eq!(unsupported(&s), ["AnnotationChange", "XFoo"]);
        let s = set("NOTIFY SET (selected (XFoo))");
        assert_eq!(unsupported(&s), ["XFoo"]);
    }

    #[test]
    fn rfc_rules_are_bad() {
        for (text, why) in [
            ("NOTIFY", "expected"),
            ("NOTIFY SET", "expected"),
            ("NOTIFY SET STATUS", "expected"),
            ("NOTIFY ALL", "SET or NONE"),
            ("NOTIFY SET (personal)", "expected"),
            ("NOTIFY SET (personal ())", "expected an atom"),
            (
                "NOTIFY SET (everything (MessageNew MessageExpunge))",
                "unknown NOTIFY filter",
            ),
            (
                "NOTIFY SET (subtree (MessageNew MessageExpunge))",
                "expected",
            ),
            (
                "NOTIFY SET (mailboxes () (MessageNew MessageExpunge))",
                "expected",
            ),
            (
                "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
                "only one",
            ),
            ("NOTIFY SET (selected NONE) (selected NONE)", "only one"),
            (
                "NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))",
                "not a message event",
            ),
            (
                "NOTIFY SET (selected-delayed (SubscriptionChange))",
                "not a message event",
            ),
            ("NOTIFY SET (selected (MessageNew))", "together"),
            ("NOTIFY SET (selected (MessageExpunge))", "together"),
            ("NOTIFY SET (selected (FlagChange))", "need MessageNew"),
            (
                "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
                "only with the selected",
            ),
            (
                "NOTIFY SET (selected (MessageNew () MessageExpunge))",
                "not empty",
            ),
            (
                "NOTIFY SET (selected (MessageNew (NOSUCH) MessageExpunge))",
                "",
            ),
            (
                "NOTIFY SET (personal (MessageNew MessageExpunge)) ",
                "expected",
            ),
            ("NOTIFY SET (personal NONE) x", ""),
            ("NOTIFY NONE x", "unexpected"),
        ] {
            let e = notify(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn bounds() {
        let group = "(personal NONE)";
        let ok = vec![group; MAX_GROUPS].join(" ");
        assert!(notify(&format!("NOTIFY SET {ok}")).is_ok());
        let over = vec![group; MAX_GROUPS + 1].join(" ");
        assert!(
            notify(&format!("NOTIFY SET {over}"))
                .unwrap_err()
                .contains("groups")
        );
        let names: Vec<String> = (0..MAX_NAMES).map(|i| format!("m{i}")).collect();
        let ok = format!("NOTIFY SET (mailboxes ({}) NONE)", names.join(" "));
        assert!(notify(&ok).is_ok());
        // the bound counts the names of all groups together
        let half = names[..MAX_NAMES / 2].join(" ");
        let over = format!("NOTIFY SET (mailboxes ({half}) NONE) (subtree ({half} x) NONE)");
        assert!(notify(&over).unwrap_err().contains("mailbox names"));
        let events = vec!["MailboxName"; MAX_EVENTS].join(" ");
        assert!(notify(&format!("NOTIFY SET (personal ({events}))")).is_ok());
        let events = vec!["MailboxName"; MAX_EVENTS + 1].join(" ");
        assert!(
            notify(&format!("NOTIFY SET (personal ({events}))"))
                .unwrap_err()
                .contains("events")
        );
        let atts = vec!["UID"; MAX_FETCH_ATTS + 1].join(" ");
        let text = format!("NOTIFY SET (selected (MessageNew ({atts}) MessageExpunge))");
        assert!(notify(&text).unwrap_err().contains("FETCH attributes"));
        // deep parentheses are refused at once, not recursed into
        let deep = format!("NOTIFY SET {}", "(".repeat(100_000));
        assert!(notify(&deep).is_err());
    }
}

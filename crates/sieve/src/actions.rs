//! The action list of a run and its rules (RFC 5228 §2.10): the implicit keep and what
//! cancels it, duplicates collapsed (the same mailbox, the same redirect address, keep
//! twice), reject/ereject incompatible with delivering actions (RFC 5429 §2.2), one
//! vacation per run, and the bounds: at most `max_actions` actions and `max_redirects`
//! distinct redirects.

use crate::matching::RunError;
use crate::{Action, Limits, Vacation, address};

pub struct Actions {
    list: Vec<Action>,
    implicit_keep: bool,
    rejected: bool,
    /// A keep, fileinto, redirect without :copy, or vacation happened.
    delivering: bool,
    vacation: bool,
    redirects: usize,
    max_actions: usize,
    max_redirects: usize,
}

fn union(into: &mut Vec<String>, flags: Vec<String>) {
    for f in flags {
        if !into.iter().any(|g| g.eq_ignore_ascii_case(&f)) {
            into.push(f);
        }
    }
}

impl Actions {
    pub fn new(limits: &Limits) -> Self {
        Actions {
            list: Vec::new(),
            implicit_keep: true,
            rejected: false,
            delivering: false,
            vacation: false,
            redirects: 0,
            max_actions: limits.max_actions,
            max_redirects: limits.max_redirects,
        }
    }

    fn push(&mut self, a: Action) -> Result<(), RunError> {
        if self.list.len() >= self.max_actions {
            return Err(RunError(format!(
                "too many actions (at most {})",
                self.max_actions
            )));
        }
        self.list.push(a);
        Ok(())
    }

    fn deliver(&mut self, what: &str) -> Result<(), RunError> {
        if self.rejected {
            return Err(RunError(format!("{what} cannot be used with reject")));
        }
        self.delivering = true;
        Ok(())
    }

    pub fn keep(&mut self, flags: Vec<String>) -> Result<(), RunError> {
        self.deliver("keep")?;
        for a in &mut self.list {
            if let Action::Keep { flags: f } = a {
                union(f, flags);
                return Ok(());
            }
        }
        self.push(Action::Keep { flags })
    }

    pub fn fileinto(
        &mut self,
        mailbox: String,
        flags: Vec<String>,
        create: bool,
        copy: bool,
    ) -> Result<(), RunError> {
        self.deliver("fileinto")?;
        if !copy {
            self.implicit_keep = false;
        }
        for a in &mut self.list {
            if let Action::FileInto {
                mailbox: m,
                flags: f,
                create: c,
            } = a
                && *m == mailbox
            {
                union(f, flags);
                *c |= create;
                return Ok(());
            }
        }
        self.push(Action::FileInto {
            mailbox,
            flags,
            create,
        })
    }

    pub fn redirect(&mut self, address: &str, copy: bool) -> Result<(), RunError> {
        let Some(address) = address::redirect_address(address) else {
            return Err(RunError(format!(
                "redirect to an invalid address {}",
                crate::parser::quote(address)
            )));
        };
        if !copy {
            self.deliver("redirect")?;
            self.implicit_keep = false;
        }
        let seen = self
            .list
            .iter()
            .any(|a| matches!(a, Action::Redirect { address: r } if address::same(r, &address)));
        if seen {
            return Ok(());
        }
        if self.redirects >= self.max_redirects {
            return Err(RunError(format!(
                "too many redirects (at most {})",
                self.max_redirects
            )));
        }
        self.redirects += 1;
        self.push(Action::Redirect { address })
    }

    pub fn reject(&mut self, reason: String, ereject: bool) -> Result<(), RunError> {
        if self.rejected {
            return Err(RunError("reject used twice".into()));
        }
        if self.delivering {
            return Err(RunError(
                "reject cannot be used with keep, fileinto, redirect or vacation".into(),
            ));
        }
        self.rejected = true;
        self.implicit_keep = false;
        self.push(Action::Reject { reason, ereject })
    }

    pub fn discard(&mut self) -> Result<(), RunError> {
        self.implicit_keep = false;
        if self.list.contains(&Action::Discard) {
            return Ok(());
        }
        self.push(Action::Discard)
    }

    /// A vacation command ran; `reply` is the reply when one is allowed.
    pub fn vacation(&mut self, reply: Option<Vacation>) -> Result<(), RunError> {
        if self.vacation {
            return Err(RunError("vacation used twice".into()));
        }
        self.vacation = true;
        match reply {
            Some(v) => {
                self.deliver("vacation")?;
                self.push(Action::Vacation(v))
            }
            None => Ok(()),
        }
    }

    /// The final list: the implicit keep added, with `flags`, unless cancelled or a keep
    /// is already there.
    pub fn finish(mut self, flags: Vec<String>) -> Vec<Action> {
        let kept = self.list.iter().any(|a| matches!(a, Action::Keep { .. }));
        if self.implicit_keep && !kept {
            self.list.push(Action::Keep { flags });
        }
        self.list
    }
}

//! The example scripts of the RFCs this crate implements, each named by RFC and section:
//! every one must compile; where the outcome is clear, it is run against a small message.

mod common;

use common::*;
use estafeta_sieve::{Action, Location};

// ---- RFC 5228

#[test]
fn rfc5228_2_3_comments() {
    let big = format!("{MSG}{}\r\n", "x".repeat(200 * 1024));
    let a = "if size :over 100k { # this is a comment\r\n    discard;\r\n}\r\n";
    assert_eq!(actions(a, &big), [Action::Discard]);
    assert_eq!(actions(a, MSG), [keep()]);
    let b = "if size :over 100K { /* this is a comment\r\n    this is still a comment */ discard /* this is a comment\r\n    */ ;\r\n}\r\n";
    assert_eq!(actions(b, &big), [Action::Discard]);
}

#[test]
fn rfc5228_2_4_2_4_encoded_character() {
    let s = "require \"encoded-character\";\r\nif header :contains \"Subject\" \"$${hex:24 24}\" { discard; }\r\n";
    compiles(s);
    let raw = "Subject: pay $$$ now\r\n\r\nx\r\n";
    assert_eq!(actions(s, raw), [Action::Discard]);
    let s = "require \"encoded-character\";\r\nif header :contains \"Subject\" \"${unicode:40}\" { discard; }\r\n";
    assert_eq!(actions(s, "Subject: a@b\r\n\r\n"), [Action::Discard]);
    assert_eq!(actions(s, "Subject: ab\r\n\r\n"), [keep()]);
}

#[test]
fn rfc5228_2_7_match_types_and_comparators() {
    compiles("if header :contains \"Subject\" \"MAKE MONEY FAST\" { discard; }");
    compiles(
        "if header :contains :comparator \"i;octet\" \"Subject\" \"MAKE MONEY FAST\" { discard; }",
    );
    compiles("if header :matches \"Subject\" \"*money*\" { discard; }");
    compiles("if address :localpart :is \"from\" \"coyote\" { discard; }");
}

#[test]
fn rfc5228_3_1_if() {
    let s = r#"
        if header :contains ["From"] ["coyote"] {
            redirect "acm@example.com";
        } elsif header :contains "Subject" "$$$" {
            redirect "postmaster@example.com";
        } else {
            redirect "field@example.com";
        }
    "#;
    assert_eq!(actions(s, MSG), [redirect("acm@example.com")]);
    let raw = "From: x@y.z\r\nSubject: $$$ for you\r\n\r\n";
    assert_eq!(actions(s, raw), [redirect("postmaster@example.com")]);
    assert_eq!(
        actions(s, "From: x@y.z\r\n\r\n"),
        [redirect("field@example.com")]
    );
}

#[test]
fn rfc5228_3_2_require() {
    compiles("require [\"fileinto\", \"reject\"];");
    compiles("require \"fileinto\";\r\nrequire \"vacation\";");
}

#[test]
fn rfc5228_3_3_stop() {
    let s = "keep; stop; discard;";
    assert_eq!(actions(s, MSG), [keep()]);
}

#[test]
fn rfc5228_4_1_fileinto() {
    let s = "require \"fileinto\";\r\nif header :contains [\"from\"] \"coyote\" {\r\n    fileinto \"INBOX.harassment\";\r\n}\r\n";
    assert_eq!(actions(s, MSG), [fileinto("INBOX.harassment")]);
}

#[test]
fn rfc5228_4_2_redirect() {
    assert_eq!(
        actions("redirect \"bart@example.com\";", MSG),
        [redirect("bart@example.com")]
    );
}

#[test]
fn rfc5228_4_3_keep() {
    let s = "if size :under 1M { keep; } else { discard; }";
    assert_eq!(actions(s, MSG), [keep()]);
    let s = "if header :contains [\"from\"] [\"idiot@example.com\"] {\r\n    discard;\r\n}";
    assert_eq!(
        actions(s, "From: idiot@example.com\r\n\r\n"),
        [Action::Discard]
    );
}

#[test]
fn rfc5228_4_4_discard() {
    let s = "if header :contains [\"from\"] [\"idiot@example.com\"] {\r\n    discard;\r\n}";
    assert_eq!(actions(s, MSG), [keep()]);
}

#[test]
fn rfc5228_5_1_address() {
    let s = "if address :is :all \"from\" \"tim@example.com\" {\r\n    discard;\r\n}";
    assert_eq!(
        actions(s, "From: Tim <TIM@example.com>\r\n\r\n"),
        [Action::Discard]
    );
    assert_eq!(actions(s, MSG), [keep()]);
}

#[test]
fn rfc5228_5_2_allof_5_3_anyof() {
    let s = "if allof (header :contains \"From\" \"Cheney\",\r\n header :contains \"Subject\" \"fishing\") { discard; }";
    assert_eq!(
        actions(s, "From: Cheney\r\nSubject: gone fishing\r\n\r\n"),
        [Action::Discard]
    );
    assert_eq!(
        actions(s, "From: Cheney\r\nSubject: hunting\r\n\r\n"),
        [keep()]
    );
    let s = "if anyof (header :contains \"From\" \"Cheney\",\r\n header :contains \"Subject\" \"fishing\") { discard; }";
    assert_eq!(
        actions(s, "From: x\r\nSubject: fishing\r\n\r\n"),
        [Action::Discard]
    );
}

#[test]
fn rfc5228_5_4_envelope() {
    let s = "require \"envelope\";\r\nif envelope :all :is \"from\" \"tim@example.com\" {\r\n    discard;\r\n}";
    assert_eq!(actions(s, MSG), [keep()]);
    let s = "require \"envelope\";\r\nif envelope :domain :is \"from\" \"desert.example.org\" { discard; }";
    assert_eq!(actions(s, MSG), [Action::Discard]);
}

#[test]
fn rfc5228_5_5_exists() {
    let s = "if not exists [\"From\",\"Date\"] {\r\n    discard;\r\n}";
    assert_eq!(actions(s, MSG), [keep()]);
    assert_eq!(actions(s, "From: x\r\n\r\n"), [Action::Discard]);
}

#[test]
fn rfc5228_5_6_false_5_10_true() {
    assert_eq!(actions("if false { discard; }", MSG), [keep()]);
    assert_eq!(actions("if true { discard; }", MSG), [Action::Discard]);
}

#[test]
fn rfc5228_5_7_header() {
    let s = "if header :is [\"X-Caffeine\"] [\"\"] { discard; }";
    assert_eq!(actions(s, MSG), [keep()]);
    assert_eq!(actions(s, "X-Caffeine:\r\n\r\n"), [Action::Discard]);
    let s = "if header :contains [\"X-Caffeine\"] [\"\"] { discard; }";
    assert_eq!(actions(s, "X-Caffeine: strong\r\n\r\n"), [Action::Discard]);
}

#[test]
fn rfc5228_5_8_not_5_9_size() {
    let s = "if not size :over 100K { discard; }";
    assert_eq!(actions(s, MSG), [Action::Discard]);
    let s = "if size :over 500K { discard; }";
    assert_eq!(actions(s, MSG), [keep()]);
}

pub const RFC5228_9: &str = r#"#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"#;

#[test]
fn rfc5228_9_example() {
    let s = RFC5228_9;
    let list = "Sender: owner-ietf-mta-filters@imc.org\r\nTo: me@example.com\r\n\r\n";
    assert_eq!(actions(s, list), [fileinto("filter")]);
    let company = "From: boss@example.com\r\nTo: me@x.org\r\n\r\n";
    assert_eq!(actions(s, company), [keep()]);
    let spam = "From: a@b.org\r\nTo: me@x.org\r\nSubject: Make lots of MONEY Fast\r\n\r\n";
    assert_eq!(actions(s, spam), [fileinto("spam")]);
    let other = "From: a@b.org\r\nTo: someone <me@example.com>\r\nSubject: hi\r\n\r\n";
    // To: me@example.com has the domain example.com: kept by the second branch
    assert_eq!(actions(s, other), [keep()]);
    let personal = "From: a@b.org\r\nCc: me@example.com.au\r\nSubject: hi\r\n\r\n";
    assert_eq!(actions(s, personal), [fileinto("personal")]);
}

// ---- RFC 5229 variables

#[test]
fn rfc5229_3_text_with_variables() {
    let s = "require [\"variables\"];\r\nset \"honorific\" \"Mr\";\r\nset \"first_name\" \"Wile\";\r\nset \"last_name\" \"Coyote\";\r\nset \"vacation\" text:\r\nDear ${HONORIFIC} ${last_name},\r\nI'm out, please leave a message after the meep.\r\n.\r\n;\r\nif string :is \"${vacation}\" \"Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n\" { discard; }";
    assert_eq!(actions(s, MSG), [Action::Discard]);
}

#[test]
fn rfc5229_3_match_variables() {
    let s = r#"require ["fileinto", "variables"];

       if header :matches "List-ID" "*<*@*" {
           fileinto "INBOX.lists.${2}"; stop;
       }

       # Imagine the header
       # Subject: [acme-users] [fwd] version 1.0 is out
       if header :matches "Subject" "[*] *" {
           # ${1} will hold "acme-users",
           # ${2} will hold "[fwd] version 1.0 is out"
           fileinto "INBOX.lists.${1}"; stop;
       }

       # Imagine the header
       # To: coyote@ACME.Example.COM
       if address :matches ["To", "Cc"] ["coyote@**.com",
               "wile@**.com"] {
           # ${0} is the matching address
           # ${1} is always the empty string
           # ${2} is part of the domain name ("ACME.Example")
           fileinto "INBOX.business.${2}"; stop;
       } else {
           # Control wouldn't reach this block if any match was
           # successful, so no match variables are set at this
           # point.
       }

       if anyof (true, address :domain :matches "To" "*.com") {
           # The second test is never evaluated, so there are
           # still no match variables set.
           stop;
       }
    "#;
    let list = "List-ID: Acme users <acme-users@lists.example.org>\r\n\r\n";
    assert_eq!(actions(s, list), [fileinto("INBOX.lists.acme-users")]);
    let subj = "Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n";
    assert_eq!(actions(s, subj), [fileinto("INBOX.lists.acme-users")]);
    let to = "To: coyote@ACME.Example.COM\r\n\r\n";
    assert_eq!(actions(s, to), [fileinto("INBOX.business.ACME.Example")]);
    assert_eq!(actions(s, "To: x@y.org\r\n\r\n"), [keep()]);
}

#[test]
fn rfc5229_4_modifiers() {
    let s = r#"require ["variables"];
        set "a" "juMBlEd lETteRS";
        set :length "b" "${a}";
        if not string "${b}" "15" { discard; }
        set :lower "b" "${a}";
        if not string :comparator "i;octet" "${b}" "jumbled letters" { discard; }
        set :upperfirst "b" "${a}";
        if not string :comparator "i;octet" "${b}" "JuMBlEd lETteRS" { discard; }
        set :upperfirst :lower "b" "${a}";
        if not string :comparator "i;octet" "${b}" "Jumbled letters" { discard; }
        set :quotewildcard "b" "Rock*";
        if not string :comparator "i;octet" "${b}" "Rock\\*" { discard; }
    "#;
    assert_eq!(actions(s, MSG), [keep()]);
}

#[test]
fn rfc5229_5_string() {
    let s = "require \"variables\";\r\nset \"state\" \"${state} pending\";\r\nif string :matches \" ${state} \" \"* pending *\" {\r\n    # the above test always succeeds\r\n  discard;\r\n}";
    assert_eq!(actions(s, MSG), [Action::Discard]);
}

#[test]
fn rfc5229_7_example() {
    let s = r#"require ["variables"];
        set "honorific"  "Mr";
        set "first_name" "Wile";
        set "last_name"  "Coyote";
        set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
    "#;
    compiles(s);
}

// ---- RFC 5230 vacation

#[test]
fn rfc5230_3_examples() {
    let s = "require \"vacation\";\r\nif header :contains \"subject\" \"cyrus\" {\r\n    vacation \"I'm out -- send mail to cyrus-bugs\";\r\n} else {\r\n    vacation \"I'm out -- call me at +1 304 555 0123\";\r\n}";
    let a = actions(s, MSG);
    assert!(
        matches!(&a[..], [Action::Vacation(v), Action::Keep { .. }] if v.reason.contains("+1 304") && v.seconds == 7 * 86400 && v.to == "coyote@desert.example.org"),
        "{a:?}"
    );
    compiles(
        "require \"vacation\";\r\nvacation :days 23 :addresses [\"tjs@example.edu\",\r\n \"ts4z@landru.example.edu\"]\r\n \"I'm away until October 19.\r\n If it's an emergency, call 911, I guess.\" ;",
    );
    compiles(
        "require \"vacation\";\r\nif header :contains \"from\" \"boss@example.edu\" {\r\n    redirect \"pleeb@xanadu.example.edu\";\r\n} else {\r\n    vacation \"Sorry, I'm away, I'll read your message later.\";\r\n}",
    );
    compiles(
        "require \"vacation\";\r\nvacation :days 7 :from \"hemingway@example.com\" \"Gone fishing\";",
    );
    compiles(
        "require [\"vacation\", \"variables\"];\r\nif header :matches \"subject\" \"*\" {\r\n    vacation :subject \"Automatic response to: ${1}\" \"I'm away\";\r\n}",
    );
    compiles(
        "require \"vacation\";\r\nvacation :subject \"Gone fishing\" :handle \"ponies\" \"I'm at the beach\";",
    );
}

#[test]
fn rfc5230_4_mime_example() {
    let s = "require \"vacation\";\r\nvacation :mime text:\r\nContent-Type: multipart/alternative; boundary=foo\r\n\r\n--foo\r\n\r\nI'm at the beach relaxing.  Mmmm, surf...\r\n\r\n--foo\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.0//EN\"\r\n \"http://www.w3.org/TR/REC-html40/strict.dtd\">\r\n<HTML><HEAD><TITLE>How to relax</TITLE>\r\n<BASE HREF=\"http://home.example.com/pictures/\"></HEAD>\r\n<BODY><P>I'm at the <A HREF=\"beach.gif\">beach</A> relaxing.\r\nMmmm, <A HREF=\"ocean.gif\">surf</A>...\r\n</BODY></HTML>\r\n\r\n--foo--\r\n.\r\n;";
    let a = actions(s, MSG);
    let Action::Vacation(v) = &a[0] else {
        panic!("{a:?}")
    };
    assert!(v.mime && v.reason.starts_with("Content-Type: multipart/alternative"));
    assert!(v.reason.ends_with("--foo--\r\n"));
}

#[test]
fn rfc6131_vacation_seconds() {
    let s = "require [\"vacation\", \"vacation-seconds\"];\r\nvacation :addresses [\"tjs@example.edu\", \"ts4z@landru.example.edu\"]\r\n :seconds 1800\r\n \"I am in a meeting, and do not have access to email.\";";
    let a = actions(s, MSG);
    assert!(
        matches!(&a[0], Action::Vacation(v) if v.seconds == 3600),
        "{a:?}"
    );
    let s = "require \"vacation-seconds\";\r\nvacation :seconds 0 \"always\";";
    assert!(matches!(&actions(s, MSG)[0], Action::Vacation(v) if v.seconds == 0));
}

// ---- RFC 5231 relational

const RFC5231_EXAMPLE: &str = r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"];

   if header :value "lt" :comparator "i;ascii-numeric"
             ["x-priority"] ["3"]
   {
      fileinto "Priority";
   }

   elsif address :count "gt" :comparator "i;ascii-numeric"
             ["to"] ["5"]
   {
      # everything with more than 5 recipients in the "to" field
      # is considered SPAM
      fileinto "SPAM";
   }

   elsif address :value "gt" :all :comparator "i;ascii-casemap"
             ["from"] ["M"]
   {
      fileinto "From N-Z";
   } else {
      fileinto "From A-M";
   }

   if allof ( address :count "eq" :comparator "i;ascii-numeric"
                      ["to", "cc"] ["1"] ,
              address :all :comparator "i;ascii-casemap"
                      ["to", "cc"] ["me@foo.example.com"] )
   {
      fileinto "Only me";
   }
"#;

#[test]
fn rfc5231_7_example() {
    let s = RFC5231_EXAMPLE;
    // RFC 5231 §7's message: x-priority 1, from "Mickey"? We use its spirit.
    let m1 = "From: coyote@desert.example.org\r\nTo: me@foo.example.com\r\nX-Priority: 1\r\n\r\n";
    assert_eq!(actions(s, m1), [fileinto("Priority"), fileinto("Only me")]);
    let many = "From: a@b.c\r\nTo: a@x, b@x, c@x, d@x, e@x, f@x\r\n\r\n";
    assert_eq!(actions(s, many), [fileinto("SPAM")]);
    let n = "From: zed@b.c\r\nTo: a@x\r\n\r\n";
    assert_eq!(actions(s, n), [fileinto("From N-Z")]);
    let a = "From: alice@b.c\r\nTo: a@x, b@y\r\n\r\n";
    assert_eq!(actions(s, a), [fileinto("From A-M")]);
}

// ---- RFC 5232 imap4flags

#[test]
fn rfc5232_examples() {
    let s = r#"require ["imap4flags", "fileinto", "variables"];
        if header :contains "from" "boss@frobnitzm.example.edu" {
            setflag "flagvar" "\\Flagged";
            fileinto :flags "${flagvar}" "INBOX.From Boss";
        }
    "#;
    let a = actions(s, "From: boss@frobnitzm.example.edu\r\n\r\n");
    assert_eq!(
        a,
        [Action::FileInto {
            mailbox: "INBOX.From Boss".into(),
            flags: vec!["\\Flagged".into()],
            create: false
        }]
    );
    let s = r#"require ["fileinto", "imap4flags", "variables"];
        if size :over 1M
                {
                addflag "MyFlags" "Big";
                if header :is "From" "boss@company.example.com"
                           {
        # The message will be marked as "\Flagged Big" when filed into
        # mailbox "Big messages"
                           addflag "MyFlags" "\\Flagged";
                           }
                fileinto :flags "${MyFlags}" "Big messages";
                }

        if header :is "From" "grandma@example.net"
                {
                addflag "MyFlags" ["\\Answered", "$MDNSent"];
        # If the message is bigger than 1Mb it will be marked as
        # "Big \Answered $MDNSent" when filed into mailbox "grandma".
        # If the message is shorter than 1Mb it will be marked as
        # "\Answered $MDNSent"
                fileinto :flags "${MyFlags}" "GrandMa";
                }

        # Handle messages from friends
        if header :is "From" "friend@example.org"
                {
                setflag "\\Seen";
                addflag ["\\Flagged", "Friend"];
                removeflag "\\Seen";
                keep;
                }
        if hasflag :contains "MyVar" "Junk" { discard; }
    "#;
    let a = actions(s, "From: grandma@example.net\r\n\r\n");
    assert_eq!(
        a,
        [Action::FileInto {
            mailbox: "GrandMa".into(),
            flags: vec!["\\Answered".into(), "$MDNSent".into()],
            create: false
        }]
    );
    let a = actions(s, "From: friend@example.org\r\n\r\n");
    assert_eq!(
        a,
        [Action::Keep {
            flags: vec!["\\Flagged".into(), "Friend".into()]
        }]
    );
}

// ---- RFC 5173 body

#[test]
fn rfc5173_examples() {
    let s =
        "require \"body\";\r\nif body :raw :contains \"MAKE MONEY FAST\" {\r\n    discard;\r\n}";
    assert_eq!(
        actions(s, "Subject: x\r\n\r\nplease MAKE MONEY FAST now\r\n"),
        [Action::Discard]
    );
    let s = r#"require ["body", "fileinto"];

   # Save any message with any text MIME part that contains the
   # words "missile" or "coordinates" in the "secrets" folder.

   if body :content "text" :contains ["missile", "coordinates"] {
           fileinto "secrets";
   }

   # Save any message with an audio/mp3 MIME part in
   # the "jukebox" folder.

   if body :content "audio/mp3" :contains "" {
           fileinto "jukebox";
   }
"#;
    let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe missile\r\n--b\r\nContent-Type: audio/mp3\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
    assert_eq!(actions(s, raw), [fileinto("secrets"), fileinto("jukebox")]);
    let s = "require [\"body\", \"fileinto\"];\r\n# Save messages mentioning the project schedule in the\r\n# project/schedule folder.\r\nif body :text :contains \"project schedule\" {\r\n        fileinto \"project/schedule\";\r\n}";
    assert_eq!(
        actions(s, "Subject: x\r\n\r\nthe Project Schedule is late\r\n"),
        [fileinto("project/schedule")]
    );
}

// ---- RFC 5260 date and index

#[test]
fn rfc5260_4_date_examples() {
    let s = r#"require ["date", "relational", "fileinto"];
   if allof(header :is "from" "boss@example.com",
            date :value "ge" :originalzone "date" "hour" "09",
            date :value "lt" :originalzone "date" "hour" "17")
   {
     fileinto "urgent";
   }"#;
    let raw = "From: boss@example.com\r\nDate: Tue, 1 Apr 1997 09:06:31 -0800\r\n\r\n";
    assert_eq!(actions(s, raw), [fileinto("urgent")]);
    let raw = "From: boss@example.com\r\nDate: Tue, 1 Apr 1997 19:06:31 -0800\r\n\r\n";
    assert_eq!(actions(s, raw), [keep()]);
    let s = r#"require ["date", "relational", "fileinto"];
   if anyof(date :is "received" "weekday" "0",
            date :is "received" "weekday" "6")
   {
     fileinto "weekend";
   }"#;
    let raw = "Received: from a by b; Sat, 5 Apr 1997 10:00:00 +0000\r\n\r\n";
    assert_eq!(actions(s, raw), [fileinto("weekend")]);
    let s = r#"require ["date", "variables", "fileinto"];
   if currentdate :matches "month" "*" { set "month" "${1}"; }
   if currentdate :matches "year"  "*" { set "year" "${1}"; }
   fileinto "${month}-${year}";"#;
    assert_eq!(actions(s, MSG), [fileinto("02-2009")]);
    let s = r#"require ["date", "relational", "vacation"];
   if allof(currentdate :value "ge" "date" "2007-06-30",
            currentdate :value "le" "date" "2007-07-07")
   {
     vacation :days 7  "I'm away during the first week in July.";
   }"#;
    assert_eq!(actions(s, MSG), [keep()]);
    let s = r#"require ["date", "variables"];
   if date :matches "date" "std11" "*" { set "d" "${0}"; }"#;
    compiles(s);
}

#[test]
fn rfc5260_6_index() {
    let s = r#"require ["date", "relational", "index"];
   if date :value "gt" :index 2 :zone "-0500" "received"
           "iso8601" "2007-02-26T09:00:00-05:00"
   {
     redirect "aaa@example.com";
   }"#;
    let raw = "Received: from a by b; Tue, 27 Feb 2007 12:00:00 +0000\r\nReceived: from c by a; Mon, 26 Feb 2007 15:00:00 +0000\r\n\r\n";
    assert_eq!(actions(s, raw), [redirect("aaa@example.com")]);
    let raw = "Received: from a by b; Tue, 27 Feb 2007 12:00:00 +0000\r\nReceived: from c by a; Mon, 26 Feb 2007 13:00:00 +0000\r\n\r\n";
    assert_eq!(actions(s, raw), [keep()]);
    let s = r#"require ["index"];
   if header :index 1 :last :contains "X-Hop" "last" { discard; }"#;
    assert_eq!(
        actions(s, "X-Hop: first\r\nX-Hop: last one\r\n\r\n"),
        [Action::Discard]
    );
    assert_eq!(actions(s, "X-Hop: last\r\nX-Hop: first\r\n\r\n"), [keep()]);
}

// ---- RFC 5429 reject, ereject

#[test]
fn rfc5429_examples() {
    let s = "require [\"reject\"];\r\nif size :over 100K {\r\n    reject text:\r\nYour message is too big.  If you want to send me a big attachment,\r\nput it on a public web site and send me a URL.\r\n.\r\n;\r\n}";
    let big = format!("{MSG}{}\r\n", "x".repeat(200 * 1024));
    let a = actions(s, &big);
    assert!(
        matches!(&a[..], [Action::Reject { reason, ereject: false }] if reason.starts_with("Your message is too big."))
    );
    let s = "require [\"ereject\"];\r\nif address :is \"from\" \"marketing@example.com\" {\r\n    ereject \"I don't want to hear from you.\";\r\n}";
    assert_eq!(
        actions(s, "From: marketing@example.com\r\n\r\n"),
        [Action::Reject {
            reason: "I don't want to hear from you.".into(),
            ereject: true
        }]
    );
}

// ---- RFC 5490 mailbox

#[test]
fn rfc5490_examples() {
    let s = r#"require ["fileinto", "reject", "mailbox"];
   if mailboxexists "INBOX.Partners" {
      fileinto :create "INBOX.Partners";
   } else {
      reject "This message was not accepted by the Mailstore";
   }"#;
    let mut env = TestEnv {
        mailboxes: vec!["INBOX.Partners".into()],
        ..Default::default()
    };
    assert_eq!(
        run_with(s, MSG, &mut env).actions,
        [Action::FileInto {
            mailbox: "INBOX.Partners".into(),
            flags: vec![],
            create: true
        }]
    );
    assert!(matches!(&actions(s, MSG)[..], [Action::Reject { .. }]));
}

// ---- RFC 6609 include

#[test]
fn rfc6609_examples() {
    compiles(
        "require [\"include\"];\r\ninclude :personal \"always_allow\";\r\ninclude :global \"spam_tests\";\r\ninclude :personal \"spam_tests\";\r\ninclude :personal \"mailing_lists\";",
    );
    let main = r#"require ["include", "variables", "relational", "fileinto"];
   global "test";
   global "test_mailbox";

   # The included script may contain repetitive code that is
   # effectively a subroutine that can be factored out.
   set "test" "$$";
   include "subject_tests";

   set "test" "Make money";
   include "subject_tests";

   if string :count "eq" "${test_mailbox}" "1"
   {
       fileinto "${test_mailbox}";
       stop;
   }"#;
    let sub = r#"require ["include", "variables"];
   global ["test", "test_mailbox"];

   if header :contains "Subject" "${test}"
   {
       set "test_mailbox" "spam-${test}";
   }"#;
    let mut env = TestEnv::default();
    env.scripts
        .insert((Location::Personal, "subject_tests".into()), sub.into());
    let o = run_with(main, "Subject: make money fast\r\n\r\n", &mut env);
    assert_eq!(o.error, None);
    assert_eq!(o.actions, [fileinto("spam-Make money")]);
    let o = run_with(main, "Subject: hello\r\n\r\n", &mut env);
    assert_eq!(o.actions, [keep()]);

    let set = "require [\"variables\", \"include\"];\r\nset \"global.i_am_on_vacation\" \"1\";";
    let use_ = "require [\"variables\", \"include\", \"vacation\"];\r\ninclude \"setter\";\r\nif string :is \"${global.i_am_on_vacation}\" \"1\"\r\n{\r\n  vacation \"It's true, I am on vacation.\";\r\n}";
    let mut env = TestEnv::default();
    env.scripts
        .insert((Location::Personal, "setter".into()), set.into());
    let o = run_with(use_, MSG, &mut env);
    assert!(matches!(&o.actions[0], Action::Vacation(_)), "{o:?}");
    compiles("require \"include\";\r\ninclude :once :optional \"x\";\r\nreturn;");
}

// ---- RFC 7352 duplicate

#[test]
fn rfc7352_examples() {
    let s = "require [\"duplicate\", \"fileinto\", \"mailbox\"];\r\nif duplicate {\r\n  fileinto :create \"Trash/Duplicate\";\r\n}";
    let o = run(s, MSG);
    assert_eq!(o.actions, [keep()]);
    assert_eq!(o.duplicates.len(), 1);
    let key = o.duplicates[0].key.clone();
    let mut env = TestEnv {
        seen: vec![key],
        ..Default::default()
    };
    let o = run_with(s, MSG, &mut env);
    assert!(
        matches!(&o.actions[..], [Action::FileInto { mailbox, create: true, .. }] if mailbox == "Trash/Duplicate")
    );
    assert!(o.duplicates.is_empty(), "seen, not :last: not refreshed");
    let s = r#"require ["duplicate", "variables", "imap4flags", "fileinto"];
   if header :matches "subject" "ALERT: *" {
     if duplicate :seconds 60 :uniqueid "${1}" {
       setflag "\\seen";
     }
     fileinto "Alerts";
   }"#;
    let o = run(s, "Subject: ALERT: disk full\r\n\r\n");
    assert_eq!(o.actions, [fileinto("Alerts")]);
    assert_eq!(o.duplicates[0].seconds, 60);
    assert!(o.duplicates[0].key.ends_with("disk full"));
    compiles(
        "require \"duplicate\";\r\nif duplicate :header \"X-Event-ID\" :handle \"notifier\" { discard; }",
    );
}

// ---- RFC 3894 copy

#[test]
fn rfc3894_examples() {
    let s = "require [\"copy\", \"fileinto\"];\r\nfileinto :copy \"incoming\";";
    assert_eq!(actions(s, MSG), [fileinto("incoming"), keep()]);
    let s = "require [\"copy\"];\r\nredirect :copy \"sent@example.com\";";
    assert_eq!(actions(s, MSG), [redirect("sent@example.com"), keep()]);
}

// ---- RFC 5235 spamtest, virustest

#[test]
fn rfc5235_examples() {
    let s = r#"require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric"];
   if spamtest :value "eq" :comparator "i;ascii-numeric" "0"
   {
       fileinto "INBOX.unclassified";
   }
   elsif spamtest :value "ge" :comparator "i;ascii-numeric" "3"
   {
       fileinto "INBOX.spam-trap";
   }"#;
    assert_eq!(actions(s, MSG), [fileinto("INBOX.unclassified")]);
    let mut env = TestEnv {
        spam: Some(7),
        ..Default::default()
    };
    assert_eq!(
        run_with(s, MSG, &mut env).actions,
        [fileinto("INBOX.spam-trap")]
    );
    let s = r#"require ["spamtestplus", "fileinto", "relational", "comparator-i;ascii-numeric"];
   if spamtest :value "eq" :comparator "i;ascii-numeric" "0"
   {
       fileinto "INBOX.unclassified";
   }
   elsif spamtest :percent :value "eq" :comparator "i;ascii-numeric" "0"
   {
       fileinto "INBOX.not-spam";
   }
   elsif spamtest :percent :value "lt" :comparator "i;ascii-numeric" "37"
   {
       fileinto "INBOX.spam-trap";
   }
   else
   {
       discard;
   }"#;
    let mut env = TestEnv {
        spam: Some(1),
        ..Default::default()
    };
    assert_eq!(
        run_with(s, MSG, &mut env).actions,
        [fileinto("INBOX.not-spam")]
    );
    env.spam = Some(3); // 22%
    assert_eq!(
        run_with(s, MSG, &mut env).actions,
        [fileinto("INBOX.spam-trap")]
    );
    env.spam = Some(10);
    assert_eq!(run_with(s, MSG, &mut env).actions, [Action::Discard]);
    let s = r#"require ["virustest", "fileinto", "relational", "comparator-i;ascii-numeric"];
   if virustest :value "eq" :comparator "i;ascii-numeric" "0"
   {
       fileinto "INBOX.unclassified";
   }
   if virustest :value "eq" :comparator "i;ascii-numeric" "4"
   {
       fileinto "INBOX.quarantine";
   }
   elsif virustest :value "eq" :comparator "i;ascii-numeric" "5"
   {
       discard;
   }"#;
    let mut env = TestEnv {
        virus: Some(4),
        ..Default::default()
    };
    assert_eq!(
        run_with(s, MSG, &mut env).actions,
        [fileinto("INBOX.quarantine")]
    );
    env.virus = Some(5);
    assert_eq!(run_with(s, MSG, &mut env).actions, [Action::Discard]);
}

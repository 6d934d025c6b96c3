//! Mail connector: mailbox sources (Maildir, IMAP) that turn emailed forms into submissions, and the SMTP sink. Only this module knows mail-parser, lettre and IMAP.

pub mod parse;

//! Mail connector: mailbox sources (Maildir, IMAP) that turn emailed forms into submissions, and the SMTP sink. Only this module knows mail-parser, lettre and IMAP.

pub mod bench;
pub mod compose;
pub mod mailbox;
pub mod parse;
pub mod smtp;
pub mod source;

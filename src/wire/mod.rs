//! Wire-level parsing shared by the stages above it: the `Cookie` header, the `Host` header and
//! percent-encoding. Nothing here knows about consent, rules or HTML.

pub mod cookie_header;
pub mod host;
pub mod percent;

pub mod forwarded;

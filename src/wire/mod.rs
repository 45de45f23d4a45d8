//! Wire-level parsing and writing shared by the stages above it: the `Cookie` header, the `Host`
//! header, `X-Forwarded-For` and percent-encoding. Nothing here knows about consent, rules or HTML.

pub mod cookie_header;
pub mod forwarded;
pub mod host;
pub mod percent;

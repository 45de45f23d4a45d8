//! The body pipeline of a rewritten response: bounded decoding of a compressed origin body,
//! charset detection (header, BOM, `<meta>`), the streaming neutralizer, and re-encoding for
//! the client.

use std::sync::Arc;

use bytes::Bytes;

use super::codec::{Coding, DecodeError, DecodeLimits, Decoder, Encoder};
use super::memo::{KeyBuilder, Memo, Stored};
use super::{HtmlError, Page, RewriteLimits, Rewriter, Selectors, Stats};

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The origin's compressed body could not be decoded within limits.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Rewriting failed.
    #[error(transparent)]
    Html(#[from] HtmlError),
    /// Re-encoding failed.
    #[error("encoding the rewritten body: {0}")]
    Encode(#[from] std::io::Error),
}

impl PipelineError {
    /// Metric label for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            PipelineError::Decode(DecodeError::Corrupt { .. }) => "decode",
            PipelineError::Decode(_) => "decompression_limit",
            PipelineError::Html(HtmlError::Encoding(_)) => "charset",
            PipelineError::Html(_) => "rewrite",
            PipelineError::Encode(_) => "encode",
        }
    }
}

/// How a body is to be processed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Coding the origin used.
    pub decode: Option<Coding>,
    /// Coding (and level) for the client.
    pub encode: Option<(Coding, u32)>,
    /// Charset from `Content-Type`, if it named one.
    pub charset: Option<&'static encoding_rs::Encoding>,
    /// Rewriting limits and options.
    pub limits: RewriteLimits,
    /// Decoding limits.
    pub decode_limits: DecodeLimits,
}

/// The body pipeline of one response.
pub struct Pipeline {
    decoder: Option<Decoder>,
    encoder: Option<Encoder>,
    /// Until the first bytes arrive: what is needed to start the rewriter.
    pending: Option<(Page, Arc<Selectors>)>,
    sniffed: Vec<u8>,
    rewriter: Option<Rewriter>,
    plan: Plan,
    /// Set when a failure was absorbed by `fail_open`: the rest passes through unmodified.
    failed_open: Option<String>,
    stats: Stats,
    /// The client guard's tag, handed to the rewriter when it starts.
    guard: Option<String>,
    /// The consent banner and the consent tools' hosts, handed to the rewriter when it starts.
    banner: Option<(String, Vec<String>)>,
    /// While the body is held back to be looked up in the memo.
    memo: Option<Held>,
    /// What the memo did for this response, once known.
    memo_outcome: Option<MemoOutcome>,
}

/// A body held back for the memo, and what identifies its rewrite. The chunks are the ones the
/// origin's body arrived in (shared, not copied, when the body is not compressed); the key is
/// built as they come.
struct Held {
    memo: Arc<Memo>,
    inputs: String,
    key: KeyBuilder,
    chunks: Vec<Bytes>,
}

impl Held {
    fn push(&mut self, chunk: Bytes) {
        self.key.update(&chunk);
        if !chunk.is_empty() {
            self.chunks.push(chunk);
        }
    }
}

/// Chunks in one piece.
fn concat(chunks: &[Bytes]) -> Vec<u8> {
    let mut whole = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
    for c in chunks {
        whole.extend_from_slice(c);
    }
    whole
}

/// What the memo did for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoOutcome {
    /// Served from the memo; nothing ran.
    Hit,
    /// Rewritten, and remembered (with what storing it did).
    Miss(Stored),
    /// Larger than `max_body_bytes`: streamed, not memoized.
    Bypass,
}

impl MemoOutcome {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            MemoOutcome::Hit => "hit",
            MemoOutcome::Miss(_) => "miss",
            MemoOutcome::Bypass => "bypass",
        }
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Prepares a pipeline; the rewriter starts when the first body bytes show a BOM or not.
    pub fn new(page: Page, selectors: &Arc<Selectors>, plan: Plan) -> Result<Self, PipelineError> {
        let decoder = plan
            .decode
            .map(|c| Decoder::new(c, plan.decode_limits))
            .transpose()?;
        let encoder = plan
            .encode
            .map(|(c, level)| Encoder::new(c, level))
            .transpose()?;
        Ok(Pipeline {
            decoder,
            encoder,
            pending: Some((page, Arc::clone(selectors))),
            sniffed: Vec::new(),
            rewriter: None,
            plan,
            failed_open: None,
            stats: Stats::default(),
            guard: None,
            banner: None,
            memo: None,
            memo_outcome: None,
        })
    }

    /// Holds bodies up to the memo's `max_body_bytes` back and serves a repeated one from the
    /// memo. Call last: the inputs it records are everything the output depends on besides the
    /// body (the page decision, the plan, the guard tag and the banner).
    pub fn with_memo(mut self, memo: Arc<Memo>) -> Self {
        let Some((page, _)) = &self.pending else {
            return self;
        };
        let inputs = memo_inputs(
            page,
            &self.plan,
            self.guard.as_deref(),
            self.banner.as_ref(),
        );
        self.memo = Some(Held {
            memo,
            key: KeyBuilder::new(&inputs),
            inputs,
            chunks: Vec::new(),
        });
        self
    }

    /// What the memo did, once the response ended (or was found too large).
    pub fn memo_outcome(&self) -> Option<MemoOutcome> {
        self.memo_outcome
    }

    /// Puts the consent banner at the end of the body (unless the page loads a consent tool).
    pub fn with_banner(mut self, html: String, tool_hosts: Vec<String>) -> Self {
        self.banner = Some((html, tool_hosts));
        self
    }

    /// Puts the client guard's tag before the page's first executable script.
    pub fn with_guard(mut self, tag: String) -> Self {
        self.guard = Some(tag);
        self
    }

    /// A failure absorbed by `fail_open`, once (for counting and logging).
    pub fn take_failed_open(&mut self) -> Option<String> {
        self.failed_open.take()
    }

    /// What the rewrite did.
    pub fn stats(&self) -> Stats {
        match &self.rewriter {
            Some(r) => r.stats(),
            None => self.stats.clone(),
        }
    }

    /// Starts the rewriter on the first bytes of the document (`first`, at least three bytes
    /// unless the document is shorter); with `whole`, they are the entire document, and the
    /// rewriter copies its runs of content markup past lol_html (see [`Rewriter::for_whole`]).
    fn start(&mut self, whole: bool, first: &[u8]) -> Result<(), HtmlError> {
        let Some((page, selectors)) = self.pending.take() else {
            return Ok(());
        };
        let (encoding, sniff_meta) = match first {
            [0xEF, 0xBB, 0xBF, ..] => (encoding_rs::UTF_8, false),
            [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] => {
                return Err(HtmlError::Encoding("UTF-16 (byte order mark)".into()));
            }
            _ => match self.plan.charset {
                Some(e) => (e, false),
                // HTML's legacy default; it maps every byte, so text put back is exact even when
                // the page is really UTF-8 without saying so. A <meta charset> switches.
                None => (encoding_rs::WINDOWS_1252, true),
            },
        };
        let rewriter = if whole {
            Rewriter::for_whole(
                page,
                &selectors,
                first,
                encoding,
                sniff_meta,
                self.plan.limits,
            )?
        } else {
            Rewriter::new(page, &selectors, encoding, sniff_meta, self.plan.limits)?
        };
        if let Some(tag) = self.guard.take() {
            rewriter.inject_before_first_script(tag);
        }
        if let Some((html, tools)) = self.banner.take() {
            rewriter.inject_banner(html, tools);
        }
        if whole {
            // The output is about the input's size: one allocation instead of a doubling series.
            rewriter.reserve_output(first.len() + first.len() / 8 + 4096);
        }
        self.rewriter = Some(rewriter);
        Ok(())
    }

    /// A rewriting failure: an error, or with `fail_open` the unmodified rest of what was fed
    /// (lol_html flushes it on its way out; a rewriter that never started leaves the sniffed
    /// bytes), after which everything passes through.
    fn absorb(&mut self, e: HtmlError) -> Result<Vec<u8>, PipelineError> {
        if !self.plan.limits.fail_open {
            return Err(e.into());
        }
        self.failed_open = Some(e.to_string());
        let out = match &self.rewriter {
            Some(r) => {
                self.stats = r.stats();
                r.take_failed_output().to_vec()
            }
            None => std::mem::take(&mut self.sniffed),
        };
        self.rewriter = None;
        self.pending = None;
        Ok(out)
    }

    fn rewrite(&mut self, decoded: &[u8], end: bool) -> Result<Vec<u8>, PipelineError> {
        let passthrough = self.pending.is_none() && self.rewriter.is_none();
        if passthrough {
            return Ok(decoded.to_vec());
        }
        // The rewriter starts on the last chunk: it sees the whole document at once.
        let whole = end && self.pending.is_some();
        let sniffed: Vec<u8>;
        let data = if self.pending.is_none() {
            decoded
        } else if self.sniffed.is_empty() && (decoded.len() >= 3 || end) {
            // The first chunk shows enough to start: no copy of it.
            if let Err(e) = self.start(end, decoded) {
                self.sniffed.extend_from_slice(decoded);
                return self.absorb(e);
            }
            decoded
        } else {
            self.sniffed.extend_from_slice(decoded);
            if self.sniffed.len() < 3 && !end {
                return Ok(Vec::new());
            }
            sniffed = std::mem::take(&mut self.sniffed);
            if let Err(e) = self.start(end, &sniffed) {
                self.sniffed = sniffed;
                return self.absorb(e);
            }
            sniffed.as_slice()
        };
        let Some(rewriter) = self.rewriter.as_mut() else {
            return Ok(data.to_vec());
        };
        let written = if whole {
            rewriter.write_whole(data)
        } else {
            rewriter.write(data)
        };
        let mut out = match written {
            Ok(b) => Vec::from(b),
            Err(e) => return self.absorb(e),
        };
        if end {
            match rewriter.end() {
                Ok(tail) => {
                    self.stats = rewriter.stats();
                    out.extend_from_slice(&tail);
                }
                Err(e) => {
                    let mut rest = self.absorb(e)?;
                    out.append(&mut rest);
                }
            }
        }
        Ok(out)
    }

    /// Decodes an origin body chunk (the whole remainder at the end); borrowed when the body
    /// is not compressed.
    fn decode<'a>(
        &mut self,
        input: &'a [u8],
        end: bool,
    ) -> Result<std::borrow::Cow<'a, [u8]>, PipelineError> {
        let Some(d) = self.decoder.as_mut() else {
            return Ok(std::borrow::Cow::Borrowed(input));
        };
        let mut decoded = d.write(input)?;
        if end {
            decoded.extend(d.finish()?);
        }
        Ok(std::borrow::Cow::Owned(decoded))
    }

    /// Rewrites decoded HTML and encodes it for the client.
    fn produce(&mut self, decoded: &[u8], end: bool) -> Result<Bytes, PipelineError> {
        let html = self.rewrite(decoded, end)?;
        let mut out = match self.encoder.as_mut() {
            Some(e) => e.write(&html)?,
            None => html,
        };
        if end && let Some(e) = self.encoder.as_mut() {
            out.extend(e.finish()?);
        }
        Ok(Bytes::from(out))
    }

    fn process(&mut self, input: &[u8], end: bool) -> Result<Bytes, PipelineError> {
        let decoded = self.decode(input, end)?;
        self.produce(&decoded, end)
    }

    /// Feeds a body chunk as it came from the origin; returns what to send to the client.
    /// While the memo holds the body back, chunks are decoded as they come (so a compressed
    /// body is held, and bounded, by its decoded size) and nothing is sent yet; the held chunks
    /// are the caller's, not copies.
    pub fn write(&mut self, input: &Bytes) -> Result<Bytes, PipelineError> {
        let Some(mut held) = self.memo.take() else {
            return self.process(input, false);
        };
        let decoded = self.decoded_shared(input, false)?;
        held.push(decoded);
        if held.key.body_len() <= held.memo.settings().max_body_bytes as u64 {
            self.memo = Some(held);
            return Ok(Bytes::new());
        }
        // Too large to memoize: stream from here on.
        self.memo_outcome = Some(MemoOutcome::Bypass);
        self.produce(&concat(&held.chunks), false)
    }

    /// Feeds the last chunk; returns the rest of the body for the client.
    pub fn end(&mut self, input: &Bytes) -> Result<Bytes, PipelineError> {
        let Some(mut held) = self.memo.take() else {
            return self.process(input, true);
        };
        let decoded = self.decoded_shared(input, true)?;
        held.push(decoded);
        let Held {
            memo,
            inputs,
            key,
            chunks,
        } = held;
        let key = key.finish();
        if let Some(hit) = memo.get(key, &inputs, &chunks) {
            self.stats = hit.stats.clone();
            self.pending = None;
            self.memo_outcome = Some(MemoOutcome::Hit);
            return Ok(hit.output.clone());
        }
        let body = concat(&chunks);
        let out = self.produce(&body, true)?;
        if self.failed_open.is_some() {
            return Ok(out);
        }
        if !memo.admit(key) {
            self.memo_outcome = Some(MemoOutcome::Miss(memo.unchanged()));
            return Ok(out);
        }
        // Kept without the spare room the rewrite reserved, so the memo's size cap counts what
        // it really holds.
        let mut kept = Vec::from(out);
        kept.shrink_to_fit();
        let out = Bytes::from(kept);
        let stored = memo.put(key, inputs, body, out.clone(), self.stats());
        self.memo_outcome = Some(MemoOutcome::Miss(stored));
        Ok(out)
    }

    /// A chunk decoded, as `Bytes`: the chunk itself when the body is not compressed.
    fn decoded_shared(&mut self, input: &Bytes, end: bool) -> Result<Bytes, PipelineError> {
        Ok(match self.decode(input, end)? {
            std::borrow::Cow::Borrowed(_) => input.clone(),
            std::borrow::Cow::Owned(decoded) => Bytes::from(decoded),
        })
    }
}

/// Everything a rewrite's output depends on besides the body, as the memo's key text (written
/// by hand: formatting the structs with `Debug` cost a microsecond per response). The
/// structs are taken apart field by field, so that a field added to them later fails to compile
/// here until it is part of the key (a field missing from the key could give a wrong hit).
fn memo_inputs(
    page: &Page,
    plan: &Plan,
    guard: Option<&str>,
    banner: Option<&(String, Vec<String>)>,
) -> String {
    use std::fmt::Write as _;
    let Page {
        rules,
        allowed,
        site,
        report_only,
        tcf_vendors,
    } = page;
    let Plan {
        decode,
        encode,
        charset,
        limits,
        decode_limits,
    } = plan;
    let RewriteLimits {
        max_parser_memory,
        max_inline_script,
        iframe_placeholder,
        fail_open,
    } = limits;
    let super::codec::DecodeLimits {
        max_bytes,
        max_ratio,
    } = decode_limits;
    let mut s = String::with_capacity(
        160 + site.len()
            + guard.map_or(0, str::len)
            + banner.map_or(0, |(html, tools)| html.len() + tools.len() * 24),
    );
    let _ = write!(
        s,
        "{}|{}|{}:{site}|{report_only}|{}|{}|{}|{}|{max_parser_memory}|{max_inline_script}|{iframe_placeholder}|{fail_open}|{max_bytes}|{max_ratio}|",
        rules.id(),
        allowed.bits(),
        site.len(),
        decode.map_or("-", |c| c.token()),
        encode.map_or("-", |(c, _)| c.token()),
        encode.map_or(0, |(_, level)| level),
        charset.map_or("-", |c| c.name()),
    );
    match tcf_vendors {
        Some(vendors) => {
            for v in vendors.iter() {
                let _ = write!(s, "{v},");
            }
        }
        None => s.push('-'),
    }
    // Free text carries its length, so that no two different inputs spell the same key.
    let text = |s: &mut String, t: &str| {
        let _ = write!(s, "|{}:", t.len());
        s.push_str(t);
    };
    match guard {
        Some(g) => text(&mut s, g),
        None => s.push_str("|-"),
    }
    match banner {
        Some((html, tools)) => {
            text(&mut s, html);
            for t in tools {
                text(&mut s, t);
            }
        }
        None => s.push_str("|-"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;

    fn page() -> Page {
        Page::for_test(
            "[[resource]]\nhost = \"tracker.example\"\ncategory = \"marketing\"\nvendor = \"T\"\n",
            CategorySet::EMPTY,
        )
    }

    fn plan(decode: Option<Coding>, encode: Option<(Coding, u32)>, fail_open: bool) -> Plan {
        Plan {
            decode,
            encode,
            charset: None,
            limits: RewriteLimits {
                fail_open,
                ..RewriteLimits::default()
            },
            decode_limits: DecodeLimits::default(),
        }
    }

    /// Every input the output depends on changes the memo key; two inputs that differ never
    /// spell the same key (a shared key would let a hit serve one decision's rewrite to another).
    #[test]
    fn every_decision_input_changes_the_memo_key() {
        let base_page = page();
        let base_plan = plan(None, None, false);
        let banner = |html: &str, tools: &[&str]| {
            Some((
                html.to_owned(),
                tools.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>(),
            ))
        };
        let key =
            |page: &Page, plan: &Plan, guard: Option<&str>, b: &Option<(String, Vec<String>)>| {
                memo_inputs(page, plan, guard, b.as_ref())
            };
        let mut keys = vec![key(&base_page, &base_plan, None, &None)];
        let mut other = base_page.clone();
        other.allowed = crate::category::Categories::default().all();
        keys.push(key(&other, &base_plan, None, &None));
        let mut other = base_page.clone();
        other.site = "example.org".into();
        keys.push(key(&other, &base_plan, None, &None));
        let mut other = base_page.clone();
        other.report_only = true;
        keys.push(key(&other, &base_plan, None, &None));
        for vendors in [vec![], vec![1], vec![1, 2], vec![12]] {
            let mut other = base_page.clone();
            other.tcf_vendors = Some(vendors.into());
            keys.push(key(&other, &base_plan, None, &None));
        }
        keys.push(key(
            &base_page,
            &plan(Some(Coding::Gzip), None, false),
            None,
            &None,
        ));
        keys.push(key(
            &base_page,
            &plan(None, Some((Coding::Gzip, 1)), false),
            None,
            &None,
        ));
        keys.push(key(
            &base_page,
            &plan(None, Some((Coding::Gzip, 4)), false),
            None,
            &None,
        ));
        keys.push(key(
            &base_page,
            &plan(None, Some((Coding::Brotli, 1)), false),
            None,
            &None,
        ));
        keys.push(key(&base_page, &plan(None, None, true), None, &None));
        let mut charset = base_plan;
        charset.charset = Some(encoding_rs::SHIFT_JIS);
        keys.push(key(&base_page, &charset, None, &None));
        // Free text: where one field ends and the next begins is never ambiguous.
        for (guard, b) in [
            (Some(""), None),
            (Some("<script>"), None),
            (None, banner("", &[])),
            (Some("<script>"), banner("", &[])),
            (Some("<script>|1:"), None),
            (None, banner("<div>", &[])),
            (None, banner("<div>", &["a"])),
            (None, banner("<div>|1:a", &[])),
            (None, banner("<div>", &["a", "b"])),
            (None, banner("<div>", &["a|1:b"])),
        ] {
            keys.push(key(&base_page, &base_plan, guard, &b));
        }
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:#?}");
        // The same inputs always give the same key.
        assert_eq!(
            keys[0],
            key(&base_page.clone(), &plan(None, None, false), None, &None)
        );
    }

    fn run(p: Plan, chunks: &[&[u8]]) -> Result<Vec<u8>, PipelineError> {
        let mut pipe = Pipeline::new(page(), &Arc::new(Selectors::new().unwrap()), p)?;
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&pipe.write(&Bytes::copy_from_slice(c))?);
        }
        out.extend_from_slice(&pipe.end(&Bytes::new())?);
        Ok(out)
    }

    const DOC: &[u8] = b"<p>x</p><script src=\"https://tracker.example/t.js\"></script>";

    fn memoized(
        memo: &Arc<Memo>,
        page: Page,
        p: Plan,
        chunks: &[&[u8]],
    ) -> (Vec<u8>, Option<MemoOutcome>, Stats) {
        let mut pipe = Pipeline::new(page, &Arc::new(Selectors::new().unwrap()), p)
            .unwrap()
            .with_memo(Arc::clone(memo));
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&pipe.write(&Bytes::copy_from_slice(c)).unwrap());
        }
        out.extend_from_slice(&pipe.end(&Bytes::new()).unwrap());
        (out, pipe.memo_outcome(), pipe.stats())
    }

    #[test]
    fn a_repeated_body_is_served_from_the_memo_and_nothing_else_is() {
        use super::super::memo::MemoSettings;
        let memo = Arc::new(Memo::new(MemoSettings {
            max_bytes: 1 << 20,
            max_body_bytes: 200,
        }));
        // One rule set, as in the proxy (another compiled set is another input).
        let pg = page();
        let gz = plan(None, Some((Coding::Gzip, 1)), false);
        let expected = run(gz, &[DOC]).unwrap();
        // First sighting: rewritten, only noted; second: rewritten and stored; third: a hit.
        let (first, outcome, stats) = memoized(&memo, pg.clone(), gz, &[&DOC[..10], &DOC[10..]]);
        assert_eq!(first, expected);
        assert!(matches!(outcome, Some(MemoOutcome::Miss(s)) if s.entries == 0));
        let (second, outcome, _) = memoized(&memo, pg.clone(), gz, &[DOC]);
        assert_eq!(second, expected);
        assert!(matches!(outcome, Some(MemoOutcome::Miss(s)) if s.entries == 1));
        let (again, outcome, again_stats) = memoized(&memo, pg.clone(), gz, &[DOC]);
        assert_eq!((again, outcome), (expected.clone(), Some(MemoOutcome::Hit)));
        assert_eq!(again_stats, stats, "a hit reports what the rewrite did");
        // Another body, another coding, or other consent: never the remembered bytes.
        let other = [DOC, b"<p>more</p>"].concat();
        let (out, outcome, _) = memoized(&memo, pg.clone(), gz, &[&other]);
        assert_eq!(out, run(gz, &[&other]).unwrap());
        assert!(matches!(outcome, Some(MemoOutcome::Miss(_))));
        let identity = plan(None, None, false);
        let (out, outcome, _) = memoized(&memo, pg.clone(), identity, &[DOC]);
        assert_eq!(out, run(identity, &[DOC]).unwrap());
        assert!(matches!(outcome, Some(MemoOutcome::Miss(_))));
        let mut granted = pg.clone();
        granted.allowed = crate::category::Categories::default().all();
        let (out, outcome, _) = memoized(&memo, granted, identity, &[DOC]);
        assert!(!String::from_utf8_lossy(&out).contains("data-consent-src"));
        assert!(matches!(outcome, Some(MemoOutcome::Miss(_))));
        // A gzip body from the origin is held by its decoded size and hits the same way.
        let gzipped = {
            use std::io::Write as _;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(DOC).unwrap();
            e.finish().unwrap()
        };
        let from_gzip = plan(Some(Coding::Gzip), None, false);
        let (first, _, _) = memoized(&memo, pg.clone(), from_gzip, &[&gzipped]);
        let (second, _, _) = memoized(&memo, pg.clone(), from_gzip, &[&gzipped]);
        assert_eq!(second, first);
        let (again, outcome, _) = memoized(
            &memo,
            pg.clone(),
            from_gzip,
            &[&gzipped[..7], &gzipped[7..]],
        );
        assert_eq!(again, first);
        assert_eq!(outcome, Some(MemoOutcome::Hit));
        // Larger than max_body_bytes: streamed as without the memo.
        let big = [DOC, &[b' '; 300][..]].concat();
        let (out, outcome, _) = memoized(&memo, pg.clone(), identity, &[&big[..150], &big[150..]]);
        assert_eq!(out, run(identity, &[&big]).unwrap());
        assert_eq!(outcome, Some(MemoOutcome::Bypass));
    }

    #[test]
    fn tiny_first_chunks_are_sniffed_before_rewriting() {
        let whole = run(plan(None, None, false), &[DOC]).unwrap();
        let (a, b) = DOC.split_at(1);
        assert_eq!(run(plan(None, None, false), &[a, b]).unwrap(), whole);
        assert!(String::from_utf8_lossy(&whole).contains("data-consent-src"));
    }

    #[test]
    fn utf16_fails_closed_or_passes_untouched_when_fail_open() {
        let utf16 = b"\xFF\xFE<\x00p\x00>\x00";
        assert!(run(plan(None, None, false), &[utf16]).is_err());
        assert_eq!(
            run(plan(None, None, true), &[&utf16[..1], &utf16[1..]]).unwrap(),
            utf16
        );
    }

    #[test]
    fn compressed_in_compressed_out() {
        let mut e = Encoder::new(Coding::Gzip, 6).unwrap();
        let mut gz = e.write(DOC).unwrap();
        gz.extend(e.finish().unwrap());
        let out = run(
            plan(Some(Coding::Gzip), Some((Coding::Brotli, 1)), false),
            &[&gz[..5], &gz[5..]],
        )
        .unwrap();
        let mut d = Decoder::new(Coding::Brotli, DecodeLimits::default()).unwrap();
        let mut html = d.write(&out).unwrap();
        html.extend(d.finish().unwrap());
        assert_eq!(html, run(plan(None, None, false), &[DOC]).unwrap());
    }

    #[test]
    fn meta_charset_switches_from_the_legacy_default() {
        // UTF-8 text without a header charset, declared by <meta>: the neutralized script keeps
        // its neighbours' bytes.
        let doc = "<meta charset=\"utf-8\"><p>héllo €</p><script src=\"https://tracker.example/t.js\"></script>".as_bytes();
        let out = run(plan(None, None, false), &[doc]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("<p>héllo €</p>") && text.contains("data-consent-src"),
            "{text}"
        );
    }
}

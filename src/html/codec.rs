//! Content codings of HTML bodies: bounded decoding of what an origin sent compressed, and
//! re-encoding of the rewritten page for the client.
//!
//! Decoding is limited in absolute size and in ratio, checked as the output is produced, so a
//! decompression bomb is stopped after a bounded amount of work and memory.

use std::io::{self, Write};

/// A content coding consent-gate can decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950).
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
    /// `zstd` (RFC 8878).
    Zstd,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// Reads a `Content-Encoding` value: `Ok(None)` for identity, `Err` with the value for
    /// anything else not supported (including stacked codings).
    pub fn from_content_encoding(value: &[u8]) -> Result<Option<Coding>, String> {
        let v = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
        match v.as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "deflate" => Ok(Some(Coding::Deflate)),
            "br" => Ok(Some(Coding::Brotli)),
            "zstd" => Ok(Some(Coding::Zstd)),
            _ => Err(v),
        }
    }
}

/// The coding to use for a client, from its `Accept-Encoding` (q=0 excluded): the first of
/// `preferred` (if acceptable), then zstd, br, gzip.
pub fn negotiate(accept_encoding: Option<&[u8]>, preferred: Option<Coding>) -> Option<Coding> {
    let header = String::from_utf8_lossy(accept_encoding?).to_ascii_lowercase();
    let accepted = |token: &str| {
        header.split(',').any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name == token || (name == "*" && token != "identity")) && !q_zero
        })
    };
    preferred
        .into_iter()
        .chain([Coding::Zstd, Coding::Brotli, Coding::Gzip])
        .find(|c| accepted(c.token()))
}

/// Limits on decoding one body.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Most decoded bytes.
    pub max_bytes: u64,
    /// Most decoded bytes per encoded byte, once past 1 MiB of output.
    pub max_ratio: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 256 << 20,
            max_ratio: 200,
        }
    }
}

/// Why decoding stopped.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body decodes to more than `max_bytes`.
    #[error("decoded body exceeds max_decompressed_bytes={0}")]
    TooLarge(u64),
    /// The body expands more than `max_ratio` times.
    #[error("decoded body expands more than max_decompression_ratio={0}")]
    Ratio(u64),
    /// The encoded data is corrupt or truncated.
    #[error("corrupt {coding} body: {message}")]
    Corrupt {
        /// Coding.
        coding: &'static str,
        /// Decoder message.
        message: String,
    },
}

/// Collects decoded output and enforces the limits as it grows.
#[derive(Debug)]
struct Limited {
    buf: Vec<u8>,
    total_out: u64,
    total_in: u64,
    limits: DecodeLimits,
    tripped: Option<DecodeError>,
}

impl Write for Limited {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.total_out += data.len() as u64;
        let over = if self.total_out > self.limits.max_bytes {
            Some(DecodeError::TooLarge(self.limits.max_bytes))
        } else if self.total_out > (1 << 20)
            && self.total_out > self.total_in.saturating_mul(self.limits.max_ratio)
        {
            Some(DecodeError::Ratio(self.limits.max_ratio))
        } else {
            None
        };
        if let Some(e) = over {
            let msg = e.to_string();
            self.tripped = Some(e);
            return Err(io::Error::other(msg));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inner {
    Gzip(flate2::write::MultiGzDecoder<Limited>),
    Deflate(flate2::write::ZlibDecoder<Limited>),
    Brotli(Box<brotli::DecompressorWriter<Limited>>),
    Zstd(zstd::stream::write::Decoder<'static, Limited>),
}

/// A streaming, bounded decoder.
pub struct Decoder {
    coding: Coding,
    inner: Option<Inner>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("coding", &self.coding)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `coding`.
    pub fn new(coding: Coding, limits: DecodeLimits) -> Result<Self, DecodeError> {
        let sink = Limited {
            buf: Vec::new(),
            total_out: 0,
            total_in: 0,
            limits,
            tripped: None,
        };
        let inner = match coding {
            Coding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(sink)),
            Coding::Deflate => Inner::Deflate(flate2::write::ZlibDecoder::new(sink)),
            Coding::Brotli => {
                Inner::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 16 * 1024)))
            }
            Coding::Zstd => Inner::Zstd(zstd::stream::write::Decoder::new(sink).map_err(|e| {
                DecodeError::Corrupt {
                    coding: "zstd",
                    message: e.to_string(),
                }
            })?),
        };
        Ok(Decoder {
            coding,
            inner: Some(inner),
        })
    }

    fn sink(inner: &mut Inner) -> &mut Limited {
        match inner {
            Inner::Gzip(d) => d.get_mut(),
            Inner::Deflate(d) => d.get_mut(),
            Inner::Brotli(d) => d.get_mut(),
            Inner::Zstd(d) => d.get_mut(),
        }
    }

    fn fail(&mut self, e: io::Error) -> DecodeError {
        let tripped = self
            .inner
            .as_mut()
            .and_then(|i| Self::sink(i).tripped.take());
        self.inner = None;
        tripped.unwrap_or_else(|| DecodeError::Corrupt {
            coding: self.coding.token(),
            message: e.to_string(),
        })
    }

    /// Feeds encoded bytes; returns the bytes decoded so far.
    pub fn write(&mut self, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(DecodeError::Corrupt {
                coding: self.coding.token(),
                message: "decoder already failed or finished".into(),
            });
        };
        Self::sink(inner).total_in += data.len() as u64;
        let result = match inner {
            Inner::Gzip(d) => d.write_all(data),
            Inner::Deflate(d) => d.write_all(data),
            Inner::Brotli(d) => d.write_all(data),
            Inner::Zstd(d) => d.write_all(data),
        };
        match result {
            Ok(()) => Ok(std::mem::take(&mut Self::sink(inner).buf)),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Ends the stream; returns the last decoded bytes. A truncated stream is an error.
    pub fn finish(&mut self) -> Result<Vec<u8>, DecodeError> {
        let Some(inner) = self.inner.take() else {
            return Ok(Vec::new());
        };
        let corrupt = |message: String| DecodeError::Corrupt {
            coding: self.coding.token(),
            message,
        };
        let sink = match inner {
            Inner::Gzip(d) => d.finish().map_err(|e| corrupt(e.to_string()))?,
            Inner::Deflate(d) => d.finish().map_err(|e| corrupt(e.to_string()))?,
            Inner::Brotli(d) => d
                .into_inner()
                .map_err(|_| corrupt("truncated brotli stream".into()))?,
            Inner::Zstd(d) => d.finish().map_err(|e| corrupt(e.to_string()))?,
        };
        if let Some(e) = sink.tripped {
            return Err(e);
        }
        Ok(sink.buf)
    }
}

enum EncInner {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// A streaming encoder that flushes after every chunk, so the page keeps streaming.
pub struct Encoder {
    inner: Option<EncInner>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder at `level` (clamped to each coding's range; 1 is fast).
    pub fn new(coding: Coding, level: u32) -> io::Result<Self> {
        let inner = match coding {
            Coding::Gzip => EncInner::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.clamp(1, 9)),
            )),
            Coding::Deflate => EncInner::Deflate(flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.clamp(1, 9)),
            )),
            Coding::Brotli => EncInner::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                level.clamp(0, 11),
                22,
            ))),
            Coding::Zstd => EncInner::Zstd(zstd::stream::write::Encoder::new(
                Vec::new(),
                i32::try_from(level.clamp(1, 19)).unwrap_or(1),
            )?),
        };
        Ok(Encoder { inner: Some(inner) })
    }

    fn out(inner: &mut EncInner) -> &mut Vec<u8> {
        match inner {
            EncInner::Gzip(e) => e.get_mut(),
            EncInner::Deflate(e) => e.get_mut(),
            EncInner::Brotli(e) => e.get_mut(),
            EncInner::Zstd(e) => e.get_mut(),
        }
    }

    /// Encodes a chunk and flushes; returns the encoded bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| io::Error::other("encoder finished"))?;
        if data.is_empty() {
            return Ok(Vec::new());
        }
        match inner {
            EncInner::Gzip(e) => {
                e.write_all(data)?;
                e.flush()?;
            }
            EncInner::Deflate(e) => {
                e.write_all(data)?;
                e.flush()?;
            }
            EncInner::Brotli(e) => {
                e.write_all(data)?;
                e.flush()?;
            }
            EncInner::Zstd(e) => {
                e.write_all(data)?;
                e.flush()?;
            }
        }
        Ok(std::mem::take(Self::out(inner)))
    }

    /// Ends the stream; returns the trailer.
    pub fn finish(&mut self) -> io::Result<Vec<u8>> {
        let Some(inner) = self.inner.take() else {
            return Ok(Vec::new());
        };
        match inner {
            EncInner::Gzip(e) => e.finish(),
            EncInner::Deflate(e) => e.finish(),
            EncInner::Brotli(e) => Ok(e.into_inner()),
            EncInner::Zstd(e) => e.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Coding; 4] = [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd];

    fn encode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(coding, 5).unwrap();
        let mut out = e.write(data).unwrap();
        out.extend(e.finish().unwrap());
        out
    }

    #[test]
    fn round_trip_every_coding_in_small_pieces() {
        let page = "<html><script src=\"https://x\"></script>"
            .repeat(2000)
            .into_bytes();
        for coding in ALL {
            let encoded = encode(coding, &page);
            let mut d = Decoder::new(coding, DecodeLimits::default()).unwrap();
            let mut out = Vec::new();
            for piece in encoded.chunks(7) {
                out.extend(d.write(piece).unwrap());
            }
            out.extend(d.finish().unwrap());
            assert_eq!(out, page, "{coding:?}");
        }
    }

    #[test]
    fn bombs_are_stopped_by_ratio_and_size() {
        let zeros = vec![0u8; 8 << 20];
        for coding in ALL {
            let bomb = encode(coding, &zeros);
            let mut d = Decoder::new(coding, DecodeLimits::default()).unwrap();
            let err = d.write(&bomb).and_then(|_| d.finish()).unwrap_err();
            assert!(matches!(err, DecodeError::Ratio(200)), "{coding:?}: {err}");
            let limits = DecodeLimits {
                max_bytes: 1000,
                max_ratio: 1_000_000,
            };
            let mut d = Decoder::new(coding, limits).unwrap();
            let err = d.write(&bomb).and_then(|_| d.finish()).unwrap_err();
            assert!(
                matches!(err, DecodeError::TooLarge(1000)),
                "{coding:?}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_and_truncated_streams_fail() {
        for coding in ALL {
            let mut d = Decoder::new(coding, DecodeLimits::default()).unwrap();
            let res = d
                .write(b"\xff\xfe definitely not compressed data \x00\x01")
                .and_then(|_| d.finish());
            assert!(res.is_err(), "{coding:?}");
            let good = encode(coding, &b"hello world ".repeat(100));
            let mut d = Decoder::new(coding, DecodeLimits::default()).unwrap();
            let res = d.write(&good[..good.len() / 2]).and_then(|_| d.finish());
            assert!(res.is_err(), "{coding:?} truncated");
        }
    }

    #[test]
    fn negotiation_respects_q_zero_and_preference() {
        assert_eq!(
            negotiate(Some(b"gzip, deflate, br"), None),
            Some(Coding::Brotli)
        );
        assert_eq!(negotiate(Some(b"gzip, br;q=0"), None), Some(Coding::Gzip));
        assert_eq!(
            negotiate(Some(b"gzip, br, zstd"), Some(Coding::Gzip)),
            Some(Coding::Gzip)
        );
        assert_eq!(negotiate(Some(b"identity"), None), None);
        assert_eq!(negotiate(Some(b"*"), None), Some(Coding::Zstd));
        assert_eq!(negotiate(None, Some(Coding::Gzip)), None);
    }

    #[test]
    fn content_encoding_tokens() {
        assert_eq!(
            Coding::from_content_encoding(b" GZIP "),
            Ok(Some(Coding::Gzip))
        );
        assert_eq!(Coding::from_content_encoding(b"identity"), Ok(None));
        assert_eq!(
            Coding::from_content_encoding(b"gzip, br"),
            Err("gzip, br".into())
        );
    }
}

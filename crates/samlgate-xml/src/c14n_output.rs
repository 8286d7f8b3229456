//! Canonicalization's output: small pieces through a buffer, verbatim
//! spans of the input merged while adjacent and passed on large.

use std::io::{self, Write};
use std::ops::Range;

const BUFFER: usize = 8192;
/// Copied input spans at least this long skip the buffer and go straight
/// to the writer (after whatever is buffered before them).
const DIRECT: usize = 256;

/// Where canonical bytes go, in order: small pieces through a buffer, and
/// verbatim spans of the input collected into `pending` while they are
/// adjacent. Every write goes through [`Output::put`] or
/// [`Output::copy`], and `put` first emits the pending span, so the output
/// is always in the order the pieces were produced.
pub(crate) struct Output<'i, W: Write> {
    buf: Vec<u8>,
    inner: W,
    input: &'i [u8],
    /// Input bytes to be written next, not yet written.
    pending: Range<usize>,
    /// How many bytes were copied from the input so far.
    copied: usize,
}

impl<'i, W: Write> Output<'i, W> {
    /// Writes into `inner`; copied spans index `input`.
    pub(crate) fn new(inner: W, input: &'i [u8]) -> Self {
        Output {
            buf: Vec::new(),
            inner,
            input,
            pending: 0..0,
            copied: 0,
        }
    }

    /// How many bytes were copied from the input so far.
    pub(crate) fn copied(&self) -> usize {
        self.copied
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.emit_pending()?;
        }
        self.buffer(bytes)
    }

    #[inline]
    fn buffer(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(BUFFER);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BUFFER {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes `input[span]`, merged with the pending span when adjacent.
    #[inline]
    pub(crate) fn copy(&mut self, span: Range<usize>) -> io::Result<()> {
        if self.pending.end == span.start && !self.pending.is_empty() {
            self.pending.end = span.end;
            return Ok(());
        }
        self.emit_pending()?;
        self.pending = span;
        Ok(())
    }

    fn emit_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let span = std::mem::replace(&mut self.pending, 0..0);
        self.copied += span.len();
        let input = self.input;
        let bytes = input.get(span).unwrap_or(&[]);
        if bytes.len() < DIRECT {
            return self.buffer(bytes);
        }
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.inner.write_all(bytes)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.emit_pending()?;
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.inner.flush()
    }
}

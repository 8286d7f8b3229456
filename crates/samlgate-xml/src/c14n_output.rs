//! Canonicalization's output: small pieces through a buffer, verbatim
//! spans of the input merged while adjacent and passed on large.

use std::io::{self, Write};
use std::ops::Range;

/// The buffer lives in the `Output` (on the stack): no allocation per
/// canonicalization, and no large one (which in glibc's malloc also sweeps
/// the freed small blocks).
const BUFFER: usize = 2048;
/// Copied input spans at least this long skip the buffer and go straight
/// to the writer (after whatever is buffered before them).
const DIRECT: usize = 256;

/// Where canonical bytes go, in order: small pieces through a buffer, and
/// verbatim spans of the input collected into `pending` while they are
/// adjacent. Every write goes through [`Output::put`] or
/// [`Output::copy`], and `put` first emits the pending span, so the output
/// is always in the order the pieces were produced.
pub(crate) struct Output<'i, W: Write> {
    buf: [u8; BUFFER],
    /// How much of `buf` is filled.
    len: usize,
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
            buf: [0; BUFFER],
            len: 0,
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
        if self.len + bytes.len() > BUFFER {
            self.write_buffered()?;
            if bytes.len() > BUFFER {
                return self.inner.write_all(bytes);
            }
        }
        if let Some(free) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            free.copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }

    fn write_buffered(&mut self) -> io::Result<()> {
        let filled = std::mem::replace(&mut self.len, 0);
        match self.buf.get(..filled) {
            Some(bytes) if !bytes.is_empty() => self.inner.write_all(bytes),
            _ => Ok(()),
        }
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
        self.write_buffered()?;
        self.inner.write_all(bytes)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.emit_pending()?;
        self.write_buffered()?;
        self.inner.flush()
    }
}

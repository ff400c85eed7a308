//! Raw objects as Firehose writes them: NDJSON, gzip on AWS and plain under moto. Compaction,
//! erasure and replay read them through here.

use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// Lines of a raw object, decompressed if it starts with gzip's magic bytes (the key's extension
/// is not a contract). Also says whether it was gzip, for error messages.
pub fn ndjson_reader(file: std::fs::File) -> (Lines<Box<dyn BufRead + Send>>, bool) {
    let mut raw = BufReader::with_capacity(1 << 17, file);
    let gzip = matches!(raw.fill_buf(), Ok([0x1f, 0x8b, ..]));
    let lines: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 17,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    (Lines::new(lines), gzip)
}

/// Opens a raw object as lines, gzip or plain.
pub fn open_ndjson(path: &Path) -> io::Result<Lines<Box<dyn BufRead + Send>>> {
    Ok(ndjson_reader(std::fs::File::open(path)?).0)
}

/// The lines of a reader, lent one at a time. A line that lies whole in the reader's buffer (at
/// 128 KiB of buffer, all but about one in a hundred of the ~1 KB lines Firehose writes) is lent
/// from there instead of being copied out first; only a line across two fills is copied.
pub struct Lines<R> {
    reader: R,
    /// Bytes of the reader's buffer that the line lent last occupies.
    lent: usize,
    /// A line that straddles two fills of the buffer.
    carry: Vec<u8>,
    bytes: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            lent: 0,
            carry: Vec::new(),
            bytes: 0,
        }
    }

    /// The next line without its line ending (`\n` or `\r\n`), or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        let (newline, empty) = {
            let buf = self.reader.fill_buf()?;
            (memchr::memchr(b'\n', buf), buf.is_empty())
        };
        if empty {
            return Ok(None);
        }
        if let Some(i) = newline {
            self.lent = i + 1;
            self.bytes += self.lent as u64;
            // The buffer is still full, so this fill returns it again without reading.
            let buf = self.reader.fill_buf()?;
            return Ok(Some(trim_line_ending(&buf[..self.lent])));
        }
        self.carry.clear();
        self.bytes += self.reader.read_until(b'\n', &mut self.carry)? as u64;
        Ok(Some(trim_line_ending(&self.carry)))
    }

    /// Bytes of the (uncompressed) stream read so far, line endings included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A line without its line ending (`\n` or `\r\n`).
fn trim_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(data: &[u8], capacity: usize) -> (Vec<Vec<u8>>, u64) {
        let mut lines = Lines::new(BufReader::with_capacity(capacity, data));
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(line.to_vec());
        }
        (out, lines.bytes())
    }

    #[test]
    fn lines_come_whole_without_their_endings_whatever_the_buffer_size() {
        let data = b"{\"a\":1}\r\n\nsecond line, longer than a small buffer\nlast without newline";
        let want: Vec<Vec<u8>> = [
            &b"{\"a\":1}"[..],
            b"",
            b"second line, longer than a small buffer",
            b"last without newline",
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect();
        for capacity in [1, 4, 9, 10, 64, 1 << 17] {
            let (lines, bytes) = all_lines(data, capacity);
            assert_eq!(lines, want, "buffer of {capacity} bytes");
            assert_eq!(bytes, data.len() as u64);
        }
        assert_eq!(all_lines(b"", 8), (Vec::new(), 0));
    }
}

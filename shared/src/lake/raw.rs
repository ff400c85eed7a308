//! Raw objects as Firehose writes them: NDJSON, gzip on AWS and plain under moto. Compaction and
//! replay read them through here.

use std::io::{BufRead, BufReader};
use std::path::Path;

/// Lines of a raw object, decompressed if it starts with gzip's magic bytes (the key's extension
/// is not a contract). Also says whether it was gzip, for error messages.
pub fn ndjson_reader(file: std::fs::File) -> (Box<dyn BufRead + Send>, bool) {
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
    (lines, gzip)
}

/// Opens a raw object as lines, gzip or plain.
pub fn open_ndjson(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    Ok(ndjson_reader(std::fs::File::open(path)?).0)
}

/// A line without its line ending (`\n` or `\r\n`).
pub fn trim_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

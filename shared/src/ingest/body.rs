//! Turns a request body into JSON bytes: media type and encoding checks, size limits, and gzip
//! inflated in a stream that stops at the cap, so a decompression bomb costs at most the cap.

use std::borrow::Cow;
use std::io::Read;

use super::error::{IngestError as Error, Result};
use crate::config::Limits;

/// Checks `Content-Type` and `Content-Encoding` and returns the JSON bytes to parse.
pub fn decode_body<'a>(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &'a [u8],
    limits: &Limits,
) -> Result<Cow<'a, [u8]>> {
    check_content_type(content_type)?;
    if body.len() > limits.max_body_bytes {
        return Err(Error::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    match content_encoding.map(str::trim) {
        None | Some("") => Ok(Cow::Borrowed(body)),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(Cow::Borrowed(body)),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            inflate_capped(body, limits.max_decompressed_bytes).map(Cow::Owned)
        }
        Some(other) => Err(Error::UnsupportedEncoding(other.to_string())),
    }
}

fn check_content_type(content_type: Option<&str>) -> Result<()> {
    // A missing type is what some server-side clients send; the body must still parse as JSON.
    let Some(raw) = content_type else {
        return Ok(());
    };
    let essence = raw.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/plain")
    {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(raw.to_string()))
    }
}

/// Inflates gzip (one or more members) and fails as soon as the output would pass `cap` bytes.
fn inflate_capped(body: &[u8], cap: usize) -> Result<Vec<u8>> {
    let mut decoder = flate2::read::MultiGzDecoder::new(body);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(cap));
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = decoder.read(&mut chunk).map_err(Error::BadGzip)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > cap {
            return Err(Error::DecompressedTooLarge { limit: cap });
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn limits(body: usize, inflated: usize) -> Limits {
        Limits {
            max_body_bytes: body,
            max_decompressed_bytes: inflated,
            ..Limits::default()
        }
    }

    #[test]
    fn json_and_text_plain_pass_through_unchanged() {
        for ct in [
            "application/json",
            "text/plain;charset=UTF-8",
            "Application/JSON; charset=utf-8",
        ] {
            let out = decode_body(Some(ct), None, b"{}", &Limits::default()).unwrap();
            assert_eq!(&*out, b"{}");
        }
    }

    #[test]
    fn other_media_types_and_encodings_are_415() {
        let err = decode_body(
            Some("application/x-www-form-urlencoded"),
            None,
            b"{}",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 415);
        let err = decode_body(
            Some("application/json"),
            Some("br"),
            b"{}",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 415);
    }

    #[test]
    fn body_exactly_at_the_limit_is_accepted_and_one_byte_over_is_413() {
        let body = vec![b' '; 100];
        assert!(decode_body(None, None, &body, &limits(100, 1000)).is_ok());
        let body = vec![b' '; 101];
        let err = decode_body(None, None, &body, &limits(100, 1000)).unwrap_err();
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn gzip_inflates_exactly_to_the_cap_and_fails_one_byte_over() {
        let data = vec![b'x'; 5000];
        let packed = gzip(&data);
        let out = decode_body(None, Some("gzip"), &packed, &limits(10_000, 5000)).unwrap();
        assert_eq!(out.len(), 5000);
        let data = vec![b'x'; 5001];
        let err = decode_body(None, Some("gzip"), &gzip(&data), &limits(10_000, 5000)).unwrap_err();
        assert!(matches!(err, Error::DecompressedTooLarge { limit: 5000 }));
    }

    #[test]
    fn a_gzip_bomb_is_stopped_at_the_cap() {
        // 1 GiB of zeros compresses to about 1 MiB; a 64 KiB cap must stop it long before.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        let err =
            decode_body(None, Some("gzip"), &bomb, &limits(bomb.len(), 64 * 1024)).unwrap_err();
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn garbage_gzip_is_400() {
        let err =
            decode_body(None, Some("gzip"), b"not gzip at all", &Limits::default()).unwrap_err();
        assert_eq!(err.http_status(), 400);
        let mut truncated = gzip(b"{\"events\": []}");
        truncated.truncate(truncated.len() - 6);
        let err = decode_body(None, Some("gzip"), &truncated, &Limits::default()).unwrap_err();
        assert_eq!(err.http_status(), 400);
    }
}

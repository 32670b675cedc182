//! What a file looks like, from its first bytes, for error messages: a reader that cannot parse
//! a file says what it found ("a text file, starting "…""), not only that parsing failed.

/// A short description of what `bytes` (a file's start, or all of it) look like.
pub fn describe(bytes: &[u8]) -> String {
    let starts = |prefix: &[u8]| bytes.starts_with(prefix);
    if bytes.is_empty() {
        return "an empty file".into();
    }
    if starts(b"PK\x03\x04") {
        return "a zip archive (a wheel, or a PyTorch ≥ 1.6 checkpoint)".into();
    }
    if starts(&[0x1f, 0x8b]) {
        return "gzip-compressed data".into();
    }
    if starts(b"\x93NUMPY") {
        return "a numpy .npy file".into();
    }
    if starts(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46]) {
        return "a PyTorch checkpoint in the legacy format".into();
    }
    if bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
        return format!("a Python pickle (protocol {})", bytes[1]);
    }
    if starts(&[0, 0, 8]) {
        return "an IDX file (MNIST's format)".into();
    }
    if bytes.len() >= 9 && bytes[8] == b'{' {
        return "a safetensors file".into();
    }
    let head = &bytes[..bytes.len().min(64)];
    match std::str::from_utf8(head) {
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            let first_line = text.lines().next().unwrap_or_default();
            let shown: String = first_line.chars().take(40).collect();
            format!("a text file, starting \"{shown}\"")
        }
        _ => {
            let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("binary data starting {}", hex.join(" "))
        }
    }
}

/// [`describe`] of the start of the file at `path`, or `None` if it cannot be read.
pub fn describe_file(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .ok()?;
    Some(describe(&head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_files_are_recognized() {
        assert_eq!(describe(b""), "an empty file");
        assert_eq!(
            describe(b"my notes\nsecond line"),
            "a text file, starting \"my notes\""
        );
        assert_eq!(
            describe(b"PK\x03\x04rest"),
            "a zip archive (a wheel, or a PyTorch ≥ 1.6 checkpoint)"
        );
        assert_eq!(describe(&[0x1f, 0x8b, 8, 0]), "gzip-compressed data");
        assert_eq!(describe(b"\x93NUMPY\x01\x00"), "a numpy .npy file");
        assert_eq!(
            describe(&[0x80, 0x02, b'}', b'.']),
            "a Python pickle (protocol 2)"
        );
        assert_eq!(
            describe(&[0, 0, 8, 3, 0, 0, 0, 1]),
            "an IDX file (MNIST's format)"
        );
        assert_eq!(
            describe(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"),
            "a safetensors file"
        );
        assert_eq!(
            describe(&[0xde, 0xad, 0xbe, 0xef]),
            "binary data starting de ad be ef"
        );
    }
}

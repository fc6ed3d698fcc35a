//! Reading a code from a picture: an image file, pasted PNG bytes, or raw
//! camera frames (grey or RGBA rows with a stride, as GStreamer's appsink
//! and `gdk::Texture::download` hand them out). Runs off the main thread:
//! a large frame takes tens of milliseconds.

use std::collections::HashSet;
use std::path::Path;

use rxing::common::HybridBinarizer;
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, FilteredImageReader, Luma8LuminanceSource,
    MultiFormatReader, Reader,
};
use serde::Serialize;

use crate::i18n::{gettext, gettext_f};

/// Pictures larger than this (in pixels) are refused: no code needs them,
/// and a crafted file should not eat the memory.
const MAX_PIXELS: u64 = 40_000_000;

/// Why no code could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanError {
    #[error("cannot read the picture: {detail}")]
    Unreadable { detail: String },
    #[error("no QR code found")]
    NoCode,
    #[error("invalid pixel buffer: {detail}")]
    BadBuffer { detail: String },
}

impl ScanError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            ScanError::Unreadable { detail } => gettext_f(
                "The picture could not be read: {detail}",
                &[("detail", detail)],
            ),
            ScanError::NoCode => gettext(
                "No QR code was found in the picture. Make sure the whole code is visible and sharp.",
            ),
            ScanError::BadBuffer { detail } => gettext_f(
                "The camera picture could not be used: {detail}",
                &[("detail", detail)],
            ),
        }
    }
}

/// The text of the first QR code in the image file at `path` (PNG).
pub fn decode_file(path: &Path) -> Result<String, ScanError> {
    let bytes = std::fs::read(path).map_err(|e| ScanError::Unreadable {
        detail: format!("{}: {e}", path.display()),
    })?;
    decode_image(&bytes)
}

/// The text of the first QR code in an encoded image (PNG), e.g. pasted
/// from the clipboard or dropped on the window.
pub fn decode_image(bytes: &[u8]) -> Result<String, ScanError> {
    let unreadable = |detail: String| ScanError::Unreadable { detail };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(e.to_string()))?;
    // The decoder checks this before it allocates: a crafted header cannot
    // make it reserve gigabytes.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let luma = reader
        .decode()
        .map_err(|e| unreadable(e.to_string()))?
        .into_luma8();
    let (width, height) = luma.dimensions();
    check_size(width, height)?;
    decode_luma_rows(luma.into_raw(), width, height)
}

/// The text of the first QR code in a grey picture: `height` rows of
/// `width` bytes, each row starting `stride` bytes after the previous one.
pub fn decode_luma(
    luma: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<String, ScanError> {
    check_buffer(luma.len(), width, height, stride, 1)?;
    let mut packed = Vec::with_capacity(width as usize * height as usize);
    for row in luma.chunks(stride).take(height as usize) {
        packed.extend_from_slice(&row[..width as usize]);
    }
    decode_luma_rows(packed, width, height)
}

/// The text of the first QR code in an RGBA (or RGBx) picture with rows
/// `stride` bytes apart. Alpha is ignored: camera frames are opaque.
pub fn decode_rgba(
    rgba: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<String, ScanError> {
    check_buffer(rgba.len(), width, height, stride, 4)?;
    let mut luma = Vec::with_capacity(width as usize * height as usize);
    for row in rgba.chunks(stride).take(height as usize) {
        luma.extend(row[..width as usize * 4].chunks_exact(4).map(|p| {
            // ITU-R BT.601 weights, in integers.
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        }));
    }
    decode_luma_rows(luma, width, height)
}

fn check_size(width: u32, height: u32) -> Result<(), ScanError> {
    if width == 0 || height == 0 {
        return Err(ScanError::BadBuffer {
            detail: "the picture is empty".into(),
        });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ScanError::Unreadable {
            detail: format!("{width}×{height} pixels is too large"),
        });
    }
    Ok(())
}

fn check_buffer(
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    channels: usize,
) -> Result<(), ScanError> {
    check_size(width, height)?;
    let row = width as usize * channels;
    if stride < row {
        return Err(ScanError::BadBuffer {
            detail: format!("stride {stride} is shorter than a row ({row} bytes)"),
        });
    }
    // The last row need not be padded to the stride.
    let needed = stride * (height as usize - 1) + row;
    if len < needed {
        return Err(ScanError::BadBuffer {
            detail: format!("{len} bytes for {width}×{height} pixels (needs {needed})"),
        });
    }
    Ok(())
}

/// Packed grey rows: try the plain reader, then rxing's filtered reader
/// (which retries at other scales and contrasts), then half the size, which
/// evens out the noise of a large camera frame.
fn decode_luma_rows(luma: Vec<u8>, width: u32, height: u32) -> Result<String, ScanError> {
    let attempt = |luma: Vec<u8>, width: u32, height: u32, filtered: bool| {
        let hints = &mut DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(true),
            // Dark-mode screens show codes light on dark.
            AlsoInverted: Some(true),
            ..DecodeHints::default()
        };
        let source = Luma8LuminanceSource::new(luma, width, height).ok()?;
        let bitmap = &mut BinaryBitmap::new(HybridBinarizer::new(source));
        // rxing is a port of a large Java library: a picture that trips an
        // internal assertion must not take the scanning thread down.
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if filtered {
                FilteredImageReader::new(MultiFormatReader::default())
                    .decode_with_hints(bitmap, hints)
            } else {
                MultiFormatReader::default().decode_with_hints(bitmap, hints)
            }
        }));
        match found {
            Ok(Ok(result)) => Some(result.getText().to_owned()),
            Ok(Err(e)) => {
                tracing::debug!("no QR code ({width}×{height}, filtered: {filtered}): {e}");
                None
            }
            Err(_) => {
                tracing::warn!("the QR decoder failed on a {width}×{height} picture");
                None
            }
        }
    };
    if let Some(text) = attempt(luma.clone(), width, height, false) {
        return Ok(text);
    }
    if let Some(text) = attempt(luma.clone(), width, height, true) {
        return Ok(text);
    }
    if width >= 400 && height >= 400 {
        let (half, w, h) = halve(&luma, width, height);
        if let Some(text) = attempt(half, w, h, false) {
            return Ok(text);
        }
    }
    Err(ScanError::NoCode)
}

/// Each output pixel the mean of a 2×2 block.
fn halve(luma: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width / 2, height / 2);
    let src = width as usize;
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h as usize {
        let top = &luma[2 * y * src..];
        let bottom = &luma[(2 * y + 1) * src..];
        for x in 0..w as usize {
            let sum = u32::from(top[2 * x])
                + u32::from(top[2 * x + 1])
                + u32::from(bottom[2 * x])
                + u32::from(bottom[2 * x + 1]);
            out.push((sum / 4) as u8);
        }
    }
    (out, w, h)
}

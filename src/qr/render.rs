//! Drawing a code: the module matrix, crisp pixel buffers at an integer
//! scale (one module is exactly `scale`×`scale` pixels, so nothing is ever
//! interpolated), and PNG files.

use std::io::Write;
use std::path::Path;

use image::ImageEncoder;
use qrcode::{EcLevel, QrCode};
use serde::Serialize;

use crate::i18n::{gettext, gettext_f};

/// The light border every reader needs around a code (ISO/IEC 18004 asks
/// for 4 modules).
pub const QUIET_ZONE: u32 = 4;

/// Why a code could not be drawn or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RenderError {
    #[error("too long for a QR code ({bytes} bytes)")]
    TooLong { bytes: usize },
    #[error("scale must be at least 1")]
    ZeroScale,
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
}

impl RenderError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            RenderError::TooLong { .. } => {
                gettext("There are too many devices to fit into one QR code.")
            }
            RenderError::ZeroScale => gettext("The QR code cannot be drawn at size zero."),
            RenderError::Write { path, detail } => gettext_f(
                "Could not save the QR code to {path}: {detail}",
                &[("path", path), ("detail", detail)],
            ),
        }
    }
}

/// The modules of a QR code, row by row; `true` is dark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

/// Pixels, row by row, `stride` bytes per row, `channels` bytes per pixel
/// (1: luma, 4: RGBA, not premultiplied). For `gdk::MemoryTexture::new(width,
/// height, MemoryFormat::R8g8b8a8, &Bytes::from(&data), stride)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelBuffer {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub channels: u8,
    pub data: Vec<u8>,
}

impl QrMatrix {
    /// Error correction M (15 %): survives a scuffed screen and a shaky
    /// camera, and keeps a code with several devices at a size phones read
    /// from across a table.
    pub fn encode(text: &str) -> Result<QrMatrix, RenderError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|_| RenderError::TooLong { bytes: text.len() })?;
        Ok(QrMatrix {
            width: code.width(),
            dark: code
                .into_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module in column `x`, row `y` is dark; outside the code
    /// (the quiet zone) is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// Pixels per side at `scale`, quiet zone included.
    pub fn pixel_size(&self, scale: u32) -> u32 {
        (self.width as u32 + 2 * QUIET_ZONE) * scale
    }

    /// The largest integer scale that fits into `pixels` per side (at least 1).
    pub fn scale_to_fit(&self, pixels: u32) -> u32 {
        (pixels / self.pixel_size(1)).max(1)
    }

    /// Black on white, one byte per pixel.
    pub fn to_luma(&self, scale: u32) -> Result<PixelBuffer, RenderError> {
        self.pixels(scale, &[0x00], &[0xff])
    }

    /// Black on opaque white, RGBA.
    pub fn to_rgba(&self, scale: u32) -> Result<PixelBuffer, RenderError> {
        self.pixels(scale, &[0, 0, 0, 0xff], &[0xff, 0xff, 0xff, 0xff])
    }

    fn pixels(&self, scale: u32, dark: &[u8], light: &[u8]) -> Result<PixelBuffer, RenderError> {
        if scale == 0 {
            return Err(RenderError::ZeroScale);
        }
        let side = self.pixel_size(scale);
        let channels = dark.len();
        let stride = side as usize * channels;
        let mut data = Vec::with_capacity(stride * side as usize);
        let quiet = QUIET_ZONE as usize;
        let mut row = Vec::with_capacity(stride);
        for py in 0..side as usize {
            // Every pixel row of one module row is the same: build it once.
            if py % scale as usize == 0 {
                row.clear();
                let y = (py / scale as usize).wrapping_sub(quiet);
                for px in 0..side as usize {
                    let x = (px / scale as usize).wrapping_sub(quiet);
                    row.extend_from_slice(if self.is_dark(x, y) { dark } else { light });
                }
            }
            data.extend_from_slice(&row);
        }
        Ok(PixelBuffer {
            width: side,
            height: side,
            stride,
            channels: channels as u8,
            data,
        })
    }

    /// A grey-scale PNG at `scale`.
    pub fn to_png(&self, scale: u32) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        self.write_png_to(&mut out, scale, "PNG")?;
        Ok(out)
    }

    /// Write a grey-scale PNG to `path`, replacing it only once complete.
    pub fn write_png(&self, path: &Path, scale: u32) -> Result<(), RenderError> {
        let shown = path.display().to_string();
        let failed = |e: std::io::Error| RenderError::Write {
            path: shown.clone(),
            detail: e.to_string(),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "qr.png".into());
        // A half-written file never takes the place of a good one.
        let part = path.with_file_name(format!(".{name}.{}.part", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&part).map_err(failed)?;
            self.write_png_to(&mut file, scale, &shown)?;
            file.flush().map_err(failed)?;
            file.sync_all().map_err(failed)?;
            std::fs::rename(&part, path).map_err(failed)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result?;
        Ok(())
    }

    fn write_png_to(&self, out: impl Write, scale: u32, shown: &str) -> Result<(), RenderError> {
        let buffer = self.to_luma(scale)?;
        image::codecs::png::PngEncoder::new(out)
            .write_image(
                &buffer.data,
                buffer.width,
                buffer.height,
                image::ExtendedColorType::L8,
            )
            .map_err(|e| RenderError::Write {
                path: shown.to_owned(),
                detail: e.to_string(),
            })
    }
}

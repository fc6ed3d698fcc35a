//! Reading a code from a live camera (issue 7): GStreamer hands out RGBA
//! frames, a worker thread decodes a few of them per second with the same
//! rxing path as pictures (`scan.rs`), and stops at the first trust code.
//! No GTK here, so the whole path runs in tests without a display or a
//! camera: a PNG played as video (`filesrc ! pngdec ! imagefreeze`) stands
//! in for the camera.
//!
//! The pipeline is `<source> ! videoconvert ! videoscale ! appsink` with
//! RGBA caps at most 1280 pixels wide. The appsink keeps one buffer and
//! drops the rest (`max-buffers=1 drop=true`) and does not wait for the
//! clock (`sync=false`): a scanner wants the newest frame, not every frame.
//! There is no GTK 4 paintable sink for GTK 4.8 (PLATFORM-NOTES.md), so
//! the window turns these frames into `gdk::MemoryTexture`s itself.
//!
//! The camera is whatever GStreamer's device monitor lists first (PipeWire
//! where its plugin is installed, else V4L2), else `v4l2src` on its default
//! device, so that a missing device, a refused one and a busy one each get
//! their own error. No portal: `autovideosrc` is not used because it falls
//! back to a test pattern when there is no camera.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use serde::Serialize;

use super::{TrustUri, decode_rgba};
use crate::i18n::{gettext, gettext_f};

/// Frames wider than this are scaled down: more pixels make decoding
/// slower, not better, and a code fills a good part of the picture.
pub const MAX_FRAME_SIZE: i32 = 1280;

/// At most this often a frame is decoded (4 per second): decoding a frame
/// takes tens of milliseconds, and the camera shares the CPU with the
/// window.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(250);

/// Where the frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSource {
    /// The first camera the device monitor lists, else `v4l2src` on
    /// `/dev/video0`.
    Camera,
    /// A source element by factory name (`v4l2src`, `videotestsrc`, ...).
    Element(String),
    /// A PNG picture played as an endless live video: a camera that looks
    /// at a code and never moves, for tests.
    Image(PathBuf),
}

/// Why there are no frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CameraError {
    /// GStreamer itself, or one of its base elements, is missing.
    #[error("GStreamer cannot be used: {detail}")]
    Unavailable { detail: String },
    /// The source element is not installed (no camera support).
    #[error("no camera support: the GStreamer element {element} is not installed")]
    NoCameraElement { element: String },
    /// No camera is connected.
    #[error("no camera found")]
    NoCamera,
    /// The camera exists but may not be opened.
    #[error("access to the camera was refused: {detail}")]
    PermissionDenied { detail: String },
    /// Another program has the camera.
    #[error("the camera is in use: {detail}")]
    Busy { detail: String },
    /// The picture played as video cannot be read.
    #[error("cannot read {path}: {detail}")]
    Unreadable { path: String, detail: String },
    /// The pipeline stopped with an error.
    #[error("the camera stopped: {detail}")]
    Pipeline { detail: String },
}

impl CameraError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            CameraError::Unavailable { .. } | CameraError::NoCameraElement { .. } => {
                gettext("Camera scanning is not available: the camera support is not installed.")
            }
            CameraError::NoCamera => gettext("No camera was found."),
            CameraError::PermissionDenied { .. } => {
                gettext("Sotto may not use the camera. Check the camera permission and try again.")
            }
            CameraError::Busy { .. } => {
                gettext("The camera is in use by another program. Close it and try again.")
            }
            CameraError::Unreadable { path, detail } => gettext_f(
                "The picture {path} could not be read: {detail}",
                &[("path", path), ("detail", detail)],
            ),
            CameraError::Pipeline { detail } => gettext_f(
                "The camera stopped working: {detail}",
                &[("detail", detail)],
            ),
        }
    }
}

/// One RGBA frame: `height` rows `stride` bytes apart. Cheap to clone (the
/// pixels are shared); `AsRef<[u8]>` so that `glib::Bytes::from_owned`
/// takes it without another copy.
#[derive(Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    data: Arc<[u8]>,
}

impl Frame {
    /// The pixels, R, G, B, A bytes, rows `stride` bytes apart.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn from_sample(sample: &gst::Sample) -> Option<Frame> {
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        let buffer = sample.buffer()?;
        // Honours a video meta with its own stride (some converters pad).
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
        let stride = usize::try_from(*frame.plane_stride().first()?).ok()?;
        let data = frame.plane_data(0).ok()?;
        Some(Frame {
            width: frame.width(),
            height: frame.height(),
            stride,
            data: Arc::from(data),
        })
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

/// What a running [`FrameSource`] reports, on a GStreamer thread.
#[derive(Debug, Clone)]
pub enum CameraEvent {
    Frame(Frame),
    /// The pipeline stopped; reported once, and no frames follow.
    Failed(CameraError),
}

/// Errors before `start` returns are its result; later ones are events.
enum ErrorGate {
    Starting(Option<CameraError>),
    Running { reported: bool },
}

/// A running pipeline; stopped (set to `Null`) when dropped.
pub struct FrameSource {
    pipeline: gst::Pipeline,
}

impl fmt::Debug for FrameSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSource").finish_non_exhaustive()
    }
}

impl FrameSource {
    /// Start the pipeline. `on_event` runs on GStreamer's threads: it must
    /// not block (hand the frame to a channel, keep only the newest).
    pub fn start<F>(source: &VideoSource, on_event: F) -> Result<FrameSource, CameraError>
    where
        F: Fn(CameraEvent) + Send + Sync + 'static,
    {
        gst::init().map_err(|e| CameraError::Unavailable {
            detail: e.to_string(),
        })?;
        let head = source_elements(source)?;
        let convert = base_element("videoconvert")?;
        let scale = base_element("videoscale")?;
        let caps = gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Rgba)
            .width_range(1..=MAX_FRAME_SIZE)
            .height_range(1..=MAX_FRAME_SIZE)
            .pixel_aspect_ratio(gst::Fraction::new(1, 1))
            .build();
        let sink = gst_app::AppSink::builder()
            .caps(&caps)
            .drop(true)
            .max_buffers(1)
            .sync(false)
            .build();

        let pipeline = gst::Pipeline::new();
        let mut chain: Vec<&gst::Element> = head.iter().collect();
        chain.extend([&convert, &scale, sink.upcast_ref()]);
        let link_error = |e: &dyn fmt::Display| CameraError::Pipeline {
            detail: e.to_string(),
        };
        pipeline
            .add_many(chain.iter().copied())
            .map_err(|e| link_error(&e))?;
        gst::Element::link_many(chain.iter().copied()).map_err(|e| link_error(&e))?;

        let on_event = Arc::new(on_event);
        let frames = Arc::clone(&on_event);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = Frame::from_sample(&sample) {
                        frames(CameraEvent::Frame(frame));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );

        let gate = Arc::new(Mutex::new(ErrorGate::Starting(None)));
        let bus = pipeline.bus().ok_or_else(|| CameraError::Unavailable {
            detail: "the pipeline has no bus".into(),
        })?;
        {
            let gate = Arc::clone(&gate);
            let source = source.clone();
            let source_element = head.first().cloned();
            // Every message is handled here, on the thread that posts it: no
            // main loop is needed, and nothing piles up on the bus.
            bus.set_sync_handler(move |_, message| {
                if let gst::MessageView::Error(error) = message.view() {
                    let error = classify(&source, source_element.as_ref(), error);
                    let mut gate = gate.lock().unwrap_or_else(|e| e.into_inner());
                    match &mut *gate {
                        ErrorGate::Starting(first) => {
                            first.get_or_insert(error);
                        }
                        ErrorGate::Running { reported } => {
                            if !*reported {
                                *reported = true;
                                on_event(CameraEvent::Failed(error));
                            }
                        }
                    }
                }
                gst::BusSyncReply::Drop
            });
        }

        let started = pipeline.set_state(gst::State::Playing);
        let early = {
            let mut gate = gate.lock().unwrap_or_else(|e| e.into_inner());
            let early = match &mut *gate {
                ErrorGate::Starting(first) => first.take(),
                ErrorGate::Running { .. } => None,
            };
            *gate = ErrorGate::Running {
                reported: early.is_some(),
            };
            early
        };
        let source = FrameSource { pipeline };
        match (started, early) {
            (_, Some(error)) => Err(error),
            (Err(e), None) => Err(CameraError::Pipeline {
                detail: e.to_string(),
            }),
            (Ok(_), None) => Ok(source),
        }
    }
}

impl Drop for FrameSource {
    fn drop(&mut self) {
        if self.pipeline.set_state(gst::State::Null).is_err() {
            tracing::warn!("the camera pipeline did not stop cleanly");
        }
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

/// An element of GStreamer's base plugins: missing means a broken install.
fn base_element(name: &str) -> Result<gst::Element, CameraError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| CameraError::Unavailable {
            detail: format!("the GStreamer element {name} is not installed"),
        })
}

fn source_elements(source: &VideoSource) -> Result<Vec<gst::Element>, CameraError> {
    match source {
        VideoSource::Camera => Ok(vec![camera_element()?]),
        VideoSource::Element(name) => gst::ElementFactory::make(name)
            .build()
            .map(|e| vec![e])
            .map_err(|_| CameraError::NoCameraElement {
                element: name.clone(),
            }),
        VideoSource::Image(path) => {
            let location = path.to_str().ok_or_else(|| CameraError::Unreadable {
                path: path.display().to_string(),
                detail: "the file name is not UTF-8".into(),
            })?;
            let file = base_element("filesrc")?;
            file.set_property("location", location);
            let decode = base_element("pngdec")?;
            let freeze = base_element("imagefreeze")?;
            // Live: one frame per 1/25 s by the clock, as a camera does,
            // rather than as fast as the CPU allows (the sink does not sync).
            freeze.set_property("is-live", true);
            Ok(vec![file, decode, freeze])
        }
    }
}

/// The first camera the device monitor lists, else `v4l2src` as is: its
/// own error then says whether there is no device or it may not be opened
/// (the monitor silently skips devices it cannot open).
fn camera_element() -> Result<gst::Element, CameraError> {
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Video/Source"), None);
    if monitor.start().is_ok() {
        let devices = monitor.devices();
        monitor.stop();
        for device in devices {
            match device.create_element(None) {
                Ok(element) => {
                    tracing::debug!("camera: {}", device.display_name());
                    return Ok(element);
                }
                Err(e) => tracing::debug!("camera {}: {e}", device.display_name()),
            }
        }
    }
    gst::ElementFactory::make("v4l2src")
        .build()
        .map_err(|_| CameraError::NoCameraElement {
            element: "v4l2src".into(),
        })
}

fn classify(
    source: &VideoSource,
    source_element: Option<&gst::Element>,
    message: &gst::message::Error,
) -> CameraError {
    let error = message.error();
    let detail = error.message().to_owned();
    tracing::debug!(
        "camera pipeline error: {detail} ({})",
        message.debug().as_deref().unwrap_or("")
    );
    let from_source = match (message.src(), source_element) {
        (Some(src), Some(element)) => src == element.upcast_ref::<gst::Object>(),
        _ => false,
    };
    let Some(kind) = error.kind::<gst::ResourceError>() else {
        return CameraError::Pipeline { detail };
    };
    if let VideoSource::Image(path) = source {
        return match kind {
            gst::ResourceError::NotFound
            | gst::ResourceError::OpenRead
            | gst::ResourceError::Read
            | gst::ResourceError::NotAuthorized => CameraError::Unreadable {
                path: path.display().to_string(),
                detail,
            },
            _ => CameraError::Pipeline { detail },
        };
    }
    if !from_source {
        return CameraError::Pipeline { detail };
    }
    match kind {
        gst::ResourceError::NotFound => CameraError::NoCamera,
        gst::ResourceError::Busy => CameraError::Busy { detail },
        gst::ResourceError::NotAuthorized => CameraError::PermissionDenied { detail },
        gst::ResourceError::OpenRead
        | gst::ResourceError::OpenWrite
        | gst::ResourceError::OpenReadWrite => {
            // The message says "could not open"; the device node says why.
            match source_element.and_then(device_path).map(|path| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| e.kind())
            }) {
                Some(Err(std::io::ErrorKind::PermissionDenied)) => {
                    CameraError::PermissionDenied { detail }
                }
                Some(Err(std::io::ErrorKind::NotFound)) => CameraError::NoCamera,
                Some(Err(std::io::ErrorKind::ResourceBusy)) => CameraError::Busy { detail },
                _ => CameraError::Pipeline { detail },
            }
        }
        _ => CameraError::Pipeline { detail },
    }
}

/// The device node of a V4L2 source.
fn device_path(element: &gst::Element) -> Option<String> {
    let spec = element.find_property("device")?;
    if spec.value_type() != String::static_type() {
        return None;
    }
    element.property::<Option<String>>("device")
}

/// A trust code read from the camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCode {
    /// The text as decoded (what `PreviewQr` and `ApplyQr` take).
    pub text: String,
    pub uri: TrustUri,
}

/// Decodes offered frames on its own thread, one at a time and at most
/// once per interval; frames offered meanwhile are skipped. Stops at the
/// first valid trust code; other QR codes are ignored.
pub struct QrScanner {
    frames: SyncSender<Frame>,
    done: Arc<AtomicBool>,
}

impl fmt::Debug for QrScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrScanner")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl QrScanner {
    /// `on_found` runs once, on the scanner's thread. The thread ends when
    /// a code is found or the scanner is dropped.
    pub fn start<F>(interval: Duration, on_found: F) -> Result<QrScanner, CameraError>
    where
        F: FnOnce(FoundCode) + Send + 'static,
    {
        // A rendezvous channel: `try_send` succeeds only while the thread
        // waits for a frame, which is "skip frames while decoding".
        let (frames, incoming) = mpsc::sync_channel::<Frame>(0);
        let done = Arc::new(AtomicBool::new(false));
        let finished = Arc::clone(&done);
        std::thread::Builder::new()
            .name("qr-scanner".into())
            .spawn(move || {
                while let Ok(frame) = incoming.recv() {
                    let began = Instant::now();
                    if let Some(found) = decode_frame(&frame) {
                        finished.store(true, Ordering::SeqCst);
                        on_found(found);
                        return;
                    }
                    if let Some(rest) = interval.checked_sub(began.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            })
            .map_err(|e| CameraError::Unavailable {
                detail: format!("cannot start the scanner: {e}"),
            })?;
        Ok(QrScanner { frames, done })
    }

    /// Hand a frame to the scanner; `false` if it was skipped (busy,
    /// too soon, or done).
    pub fn offer(&self, frame: &Frame) -> bool {
        !self.is_done() && self.frames.try_send(frame.clone()).is_ok()
    }

    /// A code was found.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

/// The grey version of the frame through the picture decoder
/// (`decode_rgba` weighs R, G and B into luma), then the URI parser.
fn decode_frame(frame: &Frame) -> Option<FoundCode> {
    let text = decode_rgba(frame.data(), frame.width, frame.height, frame.stride).ok()?;
    match TrustUri::parse(&text) {
        Ok(uri) => Some(FoundCode { text, uri }),
        Err(e) => {
            tracing::debug!("a QR code that is not a trust code: {e}");
            None
        }
    }
}

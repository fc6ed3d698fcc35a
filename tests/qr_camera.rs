//! The camera scanner (src/qr/camera.rs) on a picture played as video:
//! `filesrc ! pngdec ! imagefreeze` stands in for a camera that looks at a
//! code, through the same `FrameSource` and `QrScanner` the window uses.
//! Needs GStreamer's base and good plugins (scripts/install-deps.sh); no
//! display, no camera.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sotto::qr::{
    CameraError, CameraEvent, FoundCode, FrameSource, QrMatrix, QrScanner, SCAN_INTERVAL, TrustUri,
    VideoSource,
};

enum Seen {
    Frame(Instant, (u32, u32)),
    Found(FoundCode, Instant),
    Failed(CameraError),
}

#[derive(Default)]
struct Run {
    first_frame: Option<Instant>,
    frames: usize,
    frame_size: Option<(u32, u32)>,
    found: Option<(FoundCode, Duration)>,
    failed: Option<CameraError>,
}

/// Plays `source` into a scanner until a code is found, the pipeline fails
/// or `limit` has passed.
fn scan(source: &VideoSource, limit: Duration) -> Result<Run, CameraError> {
    let (tx, rx) = mpsc::channel();
    let found_tx = tx.clone();
    let scanner = Arc::new(QrScanner::start(SCAN_INTERVAL, move |found| {
        let _ = found_tx.send(Seen::Found(found, Instant::now()));
    })?);
    let offer_to = Arc::clone(&scanner);
    let camera = FrameSource::start(source, move |event| match event {
        CameraEvent::Frame(frame) => {
            let _ = tx.send(Seen::Frame(Instant::now(), (frame.width, frame.height)));
            offer_to.offer(&frame);
        }
        CameraEvent::Failed(error) => {
            let _ = tx.send(Seen::Failed(error));
        }
    })?;
    let mut run = Run::default();
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Seen::Frame(at, size)) => {
                run.first_frame.get_or_insert(at);
                run.frame_size.get_or_insert(size);
                run.frames += 1;
            }
            Ok(Seen::Found(found, at)) => {
                let first = run.first_frame.expect("a code before any frame");
                run.found = Some((found, at - first));
                break;
            }
            Ok(Seen::Failed(error)) => {
                run.failed = Some(error);
                break;
            }
            Err(_) => break,
        }
    }
    drop(camera);
    Ok(run)
}

fn trust_uri() -> String {
    let jid = xmpp_parsers::jid::BareJid::new("alice@example.org").expect("jid");
    TrustUri::for_devices(jid, [(1234, [0x9d; 32]), (98_765, [0x25; 32])]).to_uri()
}

#[test]
fn trust_code_in_front_of_the_camera_decodes_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("code.png");
    let uri = trust_uri();
    QrMatrix::encode(&uri)
        .expect("encode")
        .write_png(&path, 6)
        .expect("write png");

    let run = scan(&VideoSource::Image(path), Duration::from_secs(5)).expect("start");
    assert!(run.failed.is_none(), "pipeline failed: {:?}", run.failed);
    let (found, took) = run.found.expect("no code decoded within 5 s");
    println!(
        "decoded {} ms after the first frame ({} frames seen)",
        took.as_millis(),
        run.frames
    );
    assert_eq!(found.text, uri);
    assert_eq!(found.uri, TrustUri::parse(&uri).expect("parse"));
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// A full-HD camera looking at a table with a phone on it: the frame is
/// scaled down to 1280 pixels wide, and the code, a small part of it,
/// still reads.
#[test]
fn small_code_in_a_large_scene_decodes_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scene.png");
    let uri = trust_uri();
    let code = QrMatrix::encode(&uri)
        .expect("encode")
        .to_luma(5)
        .expect("luma");
    let mut scene = image::GrayImage::from_fn(1920, 1080, |x, y| {
        image::Luma([(90 + (x / 64 + y / 64) % 2 * 40) as u8])
    });
    for y in 0..code.height {
        for x in 0..code.width {
            let pixel = code.data[y as usize * code.stride + x as usize];
            scene.put_pixel(x + 900, y + 300, image::Luma([pixel]));
        }
    }
    scene.save(&path).expect("write png");

    let run = scan(&VideoSource::Image(path), Duration::from_secs(5)).expect("start");
    assert!(run.failed.is_none(), "pipeline failed: {:?}", run.failed);
    assert_eq!(run.frame_size, Some((1280, 720)), "frames are scaled down");
    let (found, took) = run.found.expect("no code decoded within 5 s");
    println!(
        "1920×1080 scene as 1280×720 frames: decoded {} ms after the first frame",
        took.as_millis()
    );
    assert_eq!(found.text, uri);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn picture_without_a_code_gives_nothing_and_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("table.png");
    // A grey gradient: something to look at, nothing to read.
    let picture = image::GrayImage::from_fn(640, 480, |x, y| image::Luma([((x + y) % 256) as u8]));
    picture.save(&path).expect("write png");

    let began = Instant::now();
    let run = scan(&VideoSource::Image(path), Duration::from_secs(2)).expect("start");
    println!(
        "{} frames in {} ms, no code",
        run.frames,
        began.elapsed().as_millis()
    );
    assert!(run.failed.is_none(), "pipeline failed: {:?}", run.failed);
    assert!(run.found.is_none(), "found {:?}", run.found.map(|f| f.0));
    assert!(run.frames > 5, "only {} frames", run.frames);
}

#[test]
fn missing_picture_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nowhere.png");
    let error = match scan(&VideoSource::Image(path.clone()), Duration::from_secs(2)) {
        Err(error) => error,
        Ok(run) => run.failed.expect("no error for a missing file"),
    };
    println!("{error}");
    match &error {
        CameraError::Unreadable { path: shown, .. } => {
            assert_eq!(Path::new(shown), path);
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    assert!(error.user_message().contains("nowhere.png"));
}

#[test]
fn source_element_that_does_not_exist_is_no_camera() {
    let error = scan(
        &VideoSource::Element("sottonosuchcamerasrc".into()),
        Duration::from_secs(1),
    )
    .err()
    .expect("no error for a missing element");
    assert_eq!(
        error,
        CameraError::NoCameraElement {
            element: "sottonosuchcamerasrc".into()
        }
    );
}

/// Where no camera is connected (CI, Xvfb), the camera is "not found" —
/// not a test pattern, not a panic.
#[test]
fn no_camera_connected_is_no_camera() {
    let any_video_device = std::fs::read_dir("/dev")
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if any_video_device {
        println!("skipped: this machine has a video device");
        return;
    }
    let error = match scan(&VideoSource::Camera, Duration::from_secs(2)) {
        Err(error) => error,
        Ok(run) => run.failed.expect("frames from a camera that is not there"),
    };
    println!("{error}");
    assert!(
        matches!(
            error,
            CameraError::NoCamera | CameraError::NoCameraElement { .. }
        ),
        "{error:?}"
    );
}

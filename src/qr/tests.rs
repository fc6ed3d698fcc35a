use super::*;
use crate::omemo::IdentityKeyPair;
use xmpp_parsers::jid::BareJid;

const PHONE: &str = "9d680806c3485aecbf46cb04c4d819e09e625b8956f6f7ff5f532316dce323d3";
const LAPTOP: &str = "2583908e98b61627f0e5d1a18549b49169ea94fd40af6ffff635472c42f96fdd";

fn key(hex_str: &str) -> [u8; 32] {
    let mut k = [0; 32];
    hex::decode_to_slice(hex_str, &mut k).unwrap();
    k
}

fn alice() -> BareJid {
    BareJid::new("alice@example.org").unwrap()
}

fn sorted(mut v: Vec<UriFingerprint>) -> Vec<UriFingerprint> {
    v.sort();
    v
}

// ------------------------------------------------------------------ the URI

#[test]
fn the_documented_example_parses_into_two_devices() {
    let uri = format!("xmpp:alice@example.org?omemo-sid-1234={PHONE};omemo-sid-98765={LAPTOP}");
    let parsed = TrustUri::parse(&uri).unwrap();
    assert_eq!(parsed.jid, alice());
    assert_eq!(
        parsed.fingerprints,
        vec![
            UriFingerprint::curve25519(1234, key(PHONE)),
            UriFingerprint::curve25519(98765, key(LAPTOP)),
        ]
    );
    // And Sotto writes exactly that.
    let built = TrustUri::for_devices(alice(), [(1234, key(PHONE)), (98765, key(LAPTOP))]);
    assert_eq!(built.to_uri(), uri);
}

#[test]
fn a_code_as_conversations_writes_it_verifies_its_devices() {
    // Conversations 2.x: `MiniUri.Xmpp` joins `omemo-sid-%d` parameters with
    // `;`, the fingerprints being `getOwnFingerprint().substring(2)`.
    let uri = "xmpp:romeo@montague.lit?omemo-sid-1539414468=05f0a5e6bb8f6bbde98bc1c7de30a1c64d3f4fbd6c30b05ee1e7e72b37ac1b50;omemo-sid-690381547=4c3f09a3e1d9b1b0deb6b2fbd2a4e2c0cf0bd32a62e9b5d98dcf1e71b3ba5e4f";
    let parsed = TrustUri::parse(uri).unwrap();
    assert_eq!(parsed.jid.as_str(), "romeo@montague.lit");
    let ids: Vec<_> = parsed.fingerprints.iter().map(|f| f.device_id).collect();
    assert_eq!(ids, vec![Some(1539414468), Some(690381547)]);
    assert!(
        parsed
            .fingerprints
            .iter()
            .all(|f| f.form == KeyForm::Curve25519)
    );
    // A key that happens to start with 05 is 64 digits: not a type byte.
    assert_eq!(
        parsed.fingerprints[0].hex(),
        "05f0a5e6bb8f6bbde98bc1c7de30a1c64d3f4fbd6c30b05ee1e7e72b37ac1b50"
    );
    assert_eq!(TrustUri::parse(&parsed.to_uri()).unwrap(), parsed);
}

#[test]
fn round_trips_through_text() {
    let mut rng = rand::rng();
    for n in 1..=6u32 {
        let devices: Vec<(u32, [u8; 32])> = (0..n)
            .map(|i| {
                let pair = IdentityKeyPair::generate(&mut rng);
                (1 + i * 104_729, pair.curve25519_public())
            })
            .collect();
        let uri = TrustUri::for_devices(alice(), devices.clone());
        let text = uri.to_uri();
        assert_eq!(TrustUri::parse(&text).unwrap(), uri, "{text}");
        assert_eq!(uri.fingerprints.len(), n as usize);
    }
}

#[test]
fn case_order_and_separators_do_not_matter() {
    let canonical = TrustUri::parse(&format!(
        "xmpp:alice@example.org?omemo-sid-1234={PHONE};omemo-sid-98765={LAPTOP}"
    ))
    .unwrap();
    for text in [
        format!(
            "XMPP:alice@example.org?OMEMO-SID-1234={};Omemo-Sid-98765={}",
            PHONE.to_uppercase(),
            LAPTOP.to_uppercase()
        ),
        format!("xmpp:alice@example.org?omemo-sid-98765={LAPTOP};omemo-sid-1234={PHONE}"),
        format!("xmpp:alice@example.org?omemo-sid-1234={PHONE}&omemo-sid-98765={LAPTOP}"),
        format!("  xmpp:Alice@Example.org?omemo-sid-1234={PHONE};;omemo-sid-98765={LAPTOP};\n"),
        // Dino and Conversations add a query type and other parameters.
        format!(
            "xmpp:alice@example.org?message;body=hi%20there;omemo-sid-1234={PHONE};otr-fingerprint=abc;omemo-sid-98765={LAPTOP};name=Alice"
        ),
        // The same device twice with the same key is one entry.
        format!(
            "xmpp:alice@example.org?omemo-sid-1234={PHONE};omemo-sid-98765={LAPTOP};omemo-sid-1234={PHONE}"
        ),
        // Some clients keep the 05 type byte.
        format!("xmpp:alice@example.org?omemo-sid-1234=05{PHONE};omemo-sid-98765={LAPTOP}"),
    ] {
        let parsed = TrustUri::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.jid, canonical.jid, "{text}");
        assert_eq!(
            sorted(parsed.fingerprints),
            sorted(canonical.fingerprints.clone()),
            "{text}"
        );
    }
}

#[test]
fn the_jid_is_percent_encoded_utf8() {
    let parsed = TrustUri::parse(&format!(
        "xmpp:j%C3%BCrgen@example.org/phone?omemo-sid-7={PHONE}"
    ))
    .unwrap();
    assert_eq!(
        parsed.jid.as_str(),
        "jürgen@example.org",
        "the resource is dropped"
    );
    let built = TrustUri::for_devices(
        BareJid::new("jürgen?#x@example.org").unwrap(),
        [(7, key(PHONE))],
    );
    let text = built.to_uri();
    assert!(
        text.starts_with("xmpp:j%C3%BCrgen%3F%23x@example.org?omemo-sid-7="),
        "{text}"
    );
    assert_eq!(TrustUri::parse(&text).unwrap(), built);
}

#[test]
fn omemo2_only_devices_match_through_their_ed25519_key() {
    let pair = IdentityKeyPair::generate(&mut rand::rng());
    let ed = hex::encode(pair.ed25519_public());
    let parsed = TrustUri::parse(&format!("xmpp:alice@example.org?omemo2-sid-42={ed}")).unwrap();
    let fp = &parsed.fingerprints[0];
    assert_eq!(fp.device_id, Some(42));
    assert_eq!(fp.form, KeyForm::Ed25519);
    assert!(fp.matches(&pair.curve25519_public()));
    assert!(!fp.matches(&key(PHONE)));
    // A device may be listed in both forms.
    let both = TrustUri::parse(&format!(
        "xmpp:alice@example.org?omemo-sid-42={};omemo2-sid-42={ed}",
        hex::encode(pair.curve25519_public())
    ))
    .unwrap();
    assert_eq!(both.fingerprints.len(), 2);
    assert_eq!(TrustUri::parse(&both.to_uri()).unwrap(), both);
}

#[test]
fn kaidans_trust_message_codes_name_keys_without_devices() {
    let pair = IdentityKeyPair::generate(&mut rand::rng());
    let ed = hex::encode(pair.ed25519_public());
    let text = format!(
        "xmpp:alice@example.org?trust-message;encryption=urn:xmpp:omemo:2;trust={ed};distrust={LAPTOP}"
    );
    let parsed = TrustUri::parse(&text).unwrap();
    assert_eq!(parsed.fingerprints.len(), 1, "distrust is not acted upon");
    let fp = &parsed.fingerprints[0];
    assert_eq!((fp.device_id, fp.form), (None, KeyForm::Ed25519));
    assert!(fp.matches(&pair.curve25519_public()));
    assert_eq!(TrustUri::parse(&parsed.to_uri()).unwrap(), parsed);

    let old = TrustUri::parse(&format!("xmpp:alice@example.org?omemo={PHONE}")).unwrap();
    assert_eq!(old.fingerprints[0].device_id, None);
    assert_eq!(old.fingerprints[0].form, KeyForm::Curve25519);
    assert_eq!(TrustUri::parse(&old.to_uri()).unwrap(), old);
}

#[test]
fn malformed_codes_are_refused_with_their_reason() {
    let many: Vec<String> = (1..=65).map(|i| format!("omemo-sid-{i}={PHONE}")).collect();
    let cases: Vec<(String, UriError)> = vec![
        ("   ".into(), UriError::Empty),
        (
            "hello world".into(),
            UriError::NotXmpp {
                scheme: String::new(),
            },
        ),
        (
            format!("https://example.org/?omemo-sid-1={PHONE}"),
            UriError::NotXmpp {
                scheme: "https".into(),
            },
        ),
        (
            format!("xmpp://[::1/alice@example.org?omemo-sid-1={PHONE}"),
            UriError::Malformed {
                detail: "invalid IPv6 address".into(),
            },
        ),
        (format!("xmpp:?omemo-sid-1={PHONE}"), UriError::NoAddress),
        (
            format!("xmpp:example.org?omemo-sid-1={PHONE}"),
            UriError::BadAddress {
                address: "example.org".into(),
                detail: "no user part".into(),
            },
        ),
        (
            "xmpp:alice@example.org?message;body=hi".into(),
            UriError::NoFingerprints {
                jid: "alice@example.org".into(),
            },
        ),
        (
            "xmpp:alice@example.org".into(),
            UriError::NoFingerprints {
                jid: "alice@example.org".into(),
            },
        ),
        (
            format!("xmpp:alice@example.org?omemo-sid-abc={PHONE}"),
            UriError::BadDeviceId {
                parameter: "omemo-sid-abc".into(),
            },
        ),
        (
            format!("xmpp:alice@example.org?omemo-sid-0={PHONE}"),
            UriError::BadDeviceId {
                parameter: "omemo-sid-0".into(),
            },
        ),
        (
            format!("xmpp:alice@example.org?omemo-sid-+5={PHONE}"),
            UriError::BadDeviceId {
                parameter: "omemo-sid-+5".into(),
            },
        ),
        (
            format!("xmpp:alice@example.org?omemo-sid-99999999999={PHONE}"),
            UriError::BadDeviceId {
                parameter: "omemo-sid-99999999999".into(),
            },
        ),
        (
            "xmpp:alice@example.org?omemo-sid-5=abcdef".into(),
            UriError::BadFingerprint {
                parameter: "omemo-sid-5".into(),
                value: "abcdef".into(),
            },
        ),
        (
            format!(
                "xmpp:alice@example.org?omemo-sid-5={}",
                PHONE.replace('d', "g")
            ),
            UriError::BadFingerprint {
                parameter: "omemo-sid-5".into(),
                value: PHONE.replace('d', "g"),
            },
        ),
        (
            "xmpp:alice@example.org?omemo-sid-5".into(),
            UriError::BadFingerprint {
                parameter: "omemo-sid-5".into(),
                value: String::new(),
            },
        ),
        (
            format!("xmpp:alice@example.org?omemo-sid-5={PHONE};omemo-sid-5={LAPTOP}"),
            UriError::Conflicting { device_id: 5 },
        ),
        (
            format!("xmpp:alice@example.org?{}", many.join(";")),
            UriError::TooMany { count: 65 },
        ),
        (
            format!(
                "xmpp:alice@example.org?trust-message;encryption=urn:xmpp:openpgp:0;trust={PHONE}"
            ),
            UriError::UnsupportedEncryption {
                encryption: "urn:xmpp:openpgp:0".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        let got = TrustUri::parse(&text);
        assert_eq!(got, Err(expected.clone()), "{text}");
        assert!(!expected.user_message().is_empty());
    }
}

// -------------------------------------------------------------- the picture

fn sample_uri() -> String {
    TrustUri::for_devices(
        alice(),
        [(1234, key(PHONE)), (98765, key(LAPTOP)), (31337, [7; 32])],
    )
    .to_uri()
}

#[test]
fn pixels_are_crisp_modules_in_a_quiet_zone() {
    let matrix = QrMatrix::encode(&sample_uri()).unwrap();
    let width = matrix.width() as u32;
    let luma = matrix.to_luma(6).unwrap();
    assert_eq!(luma.width, (width + 2 * QUIET_ZONE) * 6);
    assert_eq!(luma.stride, luma.width as usize);
    assert_eq!(luma.data.len(), luma.stride * luma.height as usize);
    assert!(luma.data.iter().all(|&p| p == 0 || p == 0xff), "no grey");
    // The quiet zone is white, the finder pattern's corner black.
    let at = |x: u32, y: u32| luma.data[(y * luma.width + x) as usize];
    assert_eq!(at(QUIET_ZONE * 6 - 1, QUIET_ZONE * 6 - 1), 0xff);
    assert_eq!(at(QUIET_ZONE * 6, QUIET_ZONE * 6), 0);
    assert_eq!(at(QUIET_ZONE * 6 + 5, QUIET_ZONE * 6 + 5), 0);

    let rgba = matrix.to_rgba(3).unwrap();
    assert_eq!(rgba.channels, 4);
    assert_eq!(rgba.stride, rgba.width as usize * 4);
    assert_eq!(&rgba.data[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(matrix.scale_to_fit(matrix.pixel_size(5) + 3), 5);
    assert_eq!(matrix.to_luma(0), Err(RenderError::ZeroScale));
}

#[test]
fn a_rendered_png_decodes_at_several_sizes() {
    let uri = sample_uri();
    let matrix = QrMatrix::encode(&uri).unwrap();
    for scale in [2, 4, 9] {
        let png = matrix.to_png(scale).unwrap();
        assert_eq!(decode_image(&png).unwrap(), uri, "scale {scale}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code.png");
    matrix.write_png(&path, 8).unwrap();
    assert_eq!(decode_file(&path).unwrap(), uri);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no partial file left behind");
}

#[test]
fn camera_buffers_with_a_stride_decode() {
    let uri = sample_uri();
    let matrix = QrMatrix::encode(&uri).unwrap();
    let luma = matrix.to_luma(4).unwrap();
    // GStreamer pads rows to 4 bytes; give it an odd padding to be sure.
    let stride = luma.stride + 13;
    let mut padded = vec![0x55; stride * luma.height as usize];
    for (y, row) in luma.data.chunks(luma.stride).enumerate() {
        padded[y * stride..y * stride + row.len()].copy_from_slice(row);
    }
    assert_eq!(
        decode_luma(&padded, luma.width, luma.height, stride).unwrap(),
        uri
    );
    let rgba = matrix.to_rgba(4).unwrap();
    assert_eq!(
        decode_rgba(&rgba.data, rgba.width, rgba.height, rgba.stride).unwrap(),
        uri
    );
    assert!(matches!(
        decode_luma(&padded, luma.width, luma.height, luma.stride - 1),
        Err(ScanError::BadBuffer { .. })
    ));
    assert!(matches!(
        decode_rgba(&rgba.data[..100], rgba.width, rgba.height, rgba.stride),
        Err(ScanError::BadBuffer { .. })
    ));
}

#[test]
fn pictures_without_a_code_say_so() {
    let blank = image::GrayImage::from_pixel(300, 200, image::Luma([230]));
    assert_eq!(
        decode_luma(blank.as_raw(), 300, 200, 300),
        Err(ScanError::NoCode)
    );
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(textured(400, 300))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(decode_image(&png), Err(ScanError::NoCode));
    assert!(matches!(
        decode_image(b"not a picture at all"),
        Err(ScanError::Unreadable { .. })
    ));
    assert!(matches!(
        decode_file(std::path::Path::new("/nonexistent/code.png")),
        Err(ScanError::Unreadable { .. })
    ));
}

// A camera sees the code small, soft, noisy and a little tilted.

/// A deterministic pseudo-random sequence (no test flakiness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

fn rendered(uri: &str, scale: u32) -> image::GrayImage {
    let luma = QrMatrix::encode(uri).unwrap().to_luma(scale).unwrap();
    image::GrayImage::from_raw(luma.width, luma.height, luma.data).unwrap()
}

fn noisy(img: &image::GrayImage, amplitude: i32, seed: u64) -> image::GrayImage {
    let mut rng = Lcg(seed);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let delta = (rng.next() % (2 * amplitude as u32 + 1)) as i32 - amplitude;
        p.0[0] = (i32::from(p.0[0]) + delta).clamp(0, 255) as u8;
    }
    out
}

/// Rotated by `degrees` about the centre, bilinear, white where nothing was.
fn rotated(img: &image::GrayImage, degrees: f32) -> image::GrayImage {
    let (w, h) = img.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    image::GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let sx = cos * dx + sin * dy + cx;
        let sy = -sin * dx + cos * dy + cy;
        if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
            return image::Luma([255]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let p = |x, y| f32::from(img.get_pixel(x, y).0[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
        let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
        image::Luma([(top * (1.0 - fy) + bottom * fy).round() as u8])
    })
}

/// Wood-grain-like stripes and blotches: a table, not a white page.
fn textured(w: u32, h: u32) -> image::GrayImage {
    let mut rng = Lcg(99);
    let blotches: Vec<(f32, f32, f32)> = (0..40)
        .map(|_| {
            (
                (rng.next() % w) as f32,
                (rng.next() % h) as f32,
                (rng.next() % 30 + 5) as f32,
            )
        })
        .collect();
    image::GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let grain = 150.0 + 40.0 * ((fx * 0.05 + fy * 0.013).sin() * (fy * 0.11).cos());
        let dark = blotches
            .iter()
            .filter(|(bx, by, r)| (fx - bx).powi(2) + (fy - by).powi(2) < r * r)
            .count() as f32;
        image::Luma([(grain - 25.0 * dark).clamp(0.0, 255.0) as u8])
    })
}

fn decodes(img: &image::GrayImage) -> Result<String, ScanError> {
    let (w, h) = img.dimensions();
    decode_luma(img.as_raw(), w, h, w as usize)
}

#[test]
fn degraded_camera_like_pictures_decode() {
    let uri = sample_uri();
    let sharp = rendered(&uri, 8);
    let (w, h) = sharp.dimensions();

    // Scaled down to a non-integer module size.
    let small = image::imageops::resize(
        &sharp,
        w * 7 / 20,
        h * 7 / 20,
        image::imageops::FilterType::Triangle,
    );
    assert_eq!(decodes(&small).unwrap(), uri, "scaled down");

    let blurred = image::imageops::blur(&sharp, 2.0);
    assert_eq!(decodes(&blurred).unwrap(), uri, "blurred");

    assert_eq!(decodes(&noisy(&sharp, 60, 7)).unwrap(), uri, "noise");

    // With room around it: a camera sees the table too, not only the code.
    let mut framed = image::GrayImage::from_pixel(w + 160, h + 160, image::Luma([255]));
    image::imageops::overlay(&mut framed, &sharp, 80, 80);
    for degrees in [-8.0, 5.0, 12.0] {
        assert_eq!(
            decodes(&rotated(&framed, degrees)).unwrap(),
            uri,
            "rotated {degrees}°"
        );
    }

    // All of it at once, on a textured background with uneven light.
    let code = rendered(&uri, 5);
    let (cw, ch) = code.dimensions();
    let mut photo = textured(cw + 300, ch + 220);
    image::imageops::overlay(&mut photo, &code, 170, 90);
    let photo = noisy(&image::imageops::blur(&rotated(&photo, 6.0), 1.2), 30, 11);
    let (pw, ph) = photo.dimensions();
    let mut photo = photo;
    for (x, y, p) in photo.enumerate_pixels_mut() {
        // Light falls off towards one corner, as under a lamp.
        let shade = 1.0 - 0.35 * (x as f32 / pw as f32) * (y as f32 / ph as f32);
        p.0[0] = (f32::from(p.0[0]) * shade) as u8;
    }
    assert_eq!(decodes(&photo).unwrap(), uri, "photo-like");

    // And light on dark, as dark-mode screens show it.
    let mut inverted = sharp.clone();
    image::imageops::invert(&mut inverted);
    assert_eq!(decodes(&inverted).unwrap(), uri, "inverted");
}

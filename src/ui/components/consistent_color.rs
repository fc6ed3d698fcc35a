//! XEP-0392: Consistent Color Generation, so a contact has the same colour
//! here as in Dino, Conversations or Gajim.

use gtk::glib;

/// §5.1: the hue angle in degrees, from the first two bytes of SHA-1 of the
/// identifier (the bare JID), read little-endian.
pub fn hue_angle(identifier: &str) -> f64 {
    let mut sha1 =
        glib::Checksum::new(glib::ChecksumType::Sha1).expect("GLib always provides SHA-1");
    sha1.update(identifier.as_bytes());
    let digest = sha1.digest();
    let value = u16::from_le_bytes([digest[0], digest[1]]);
    f64::from(value) / 65536.0 * 360.0
}

/// §5.2: the colour for `identifier` as sRGB in 0..=1, from HSLuv with
/// saturation 100 and lightness 50, as the XEP recommends.
pub fn rgb(identifier: &str) -> (f64, f64, f64) {
    hsluv::to_rgb(hue_angle(identifier), 100.0, 50.0)
}

/// HSLuv (www.hsluv.org): a perceptually even HSL, so no contact gets a
/// washed-out yellow while another gets a deep blue.
mod hsluv {
    const M: [[f64; 3]; 3] = [
        [
            3.240_969_941_904_521,
            -1.537_383_177_570_093,
            -0.498_610_760_293,
        ],
        [
            -0.969_243_636_280_87,
            1.875_967_501_507_72,
            0.041_555_057_407_175,
        ],
        [
            0.055_630_079_696_993,
            -0.203_976_958_888_97,
            1.056_971_514_242_878,
        ],
    ];
    const REF_U: f64 = 0.197_830_006_642_83;
    const REF_V: f64 = 0.468_319_994_938_79;
    const KAPPA: f64 = 903.296_296_296_296_3;
    const EPSILON: f64 = 0.008_856_451_679_035_631;

    pub fn to_rgb(h: f64, s: f64, l: f64) -> (f64, f64, f64) {
        let (l, c, h) = hsluv_to_lch(h, s, l);
        let (l, u, v) = lch_to_luv(l, c, h);
        let (x, y, z) = luv_to_xyz(l, u, v);
        let channel =
            |row: [f64; 3]| from_linear(row[0] * x + row[1] * y + row[2] * z).clamp(0.0, 1.0);
        (channel(M[0]), channel(M[1]), channel(M[2]))
    }

    /// The six lines bounding the sRGB gamut in the chroma plane at `l`.
    fn bounds(l: f64) -> [(f64, f64); 6] {
        let sub1 = (l + 16.0).powi(3) / 1_560_896.0;
        let sub2 = if sub1 > EPSILON { sub1 } else { l / KAPPA };
        let mut out = [(0.0, 0.0); 6];
        for (c, [m1, m2, m3]) in M.iter().copied().enumerate() {
            for t in 0..2 {
                let t = f64::from(t);
                let top1 = (284_517.0 * m1 - 94_839.0 * m3) * sub2;
                let top2 = (838_422.0 * m3 + 769_860.0 * m2 + 731_718.0 * m1) * l * sub2
                    - 769_860.0 * t * l;
                let bottom = (632_260.0 * m3 - 126_452.0 * m2) * sub2 + 126_452.0 * t;
                out[c * 2 + t as usize] = (top1 / bottom, top2 / bottom);
            }
        }
        out
    }

    fn max_chroma(l: f64, h: f64) -> f64 {
        let hrad = h.to_radians();
        bounds(l)
            .iter()
            .map(|(slope, intercept)| intercept / (hrad.sin() - slope * hrad.cos()))
            .filter(|len| *len >= 0.0)
            .fold(f64::MAX, f64::min)
    }

    fn hsluv_to_lch(h: f64, s: f64, l: f64) -> (f64, f64, f64) {
        if l > 99.999_999_9 {
            return (100.0, 0.0, h);
        }
        if l < 1e-8 {
            return (0.0, 0.0, h);
        }
        (l, max_chroma(l, h) / 100.0 * s, h)
    }

    fn lch_to_luv(l: f64, c: f64, h: f64) -> (f64, f64, f64) {
        let hrad = h.to_radians();
        (l, hrad.cos() * c, hrad.sin() * c)
    }

    fn luv_to_xyz(l: f64, u: f64, v: f64) -> (f64, f64, f64) {
        if l == 0.0 {
            return (0.0, 0.0, 0.0);
        }
        let var_u = u / (13.0 * l) + REF_U;
        let var_v = v / (13.0 * l) + REF_V;
        let y = if l <= 8.0 {
            l / KAPPA
        } else {
            ((l + 16.0) / 116.0).powi(3)
        };
        let x = -(9.0 * y * var_u) / ((var_u - 4.0) * var_v - var_u * var_v);
        let z = (9.0 * y - 15.0 * var_v * y - var_v * x) / (3.0 * var_v);
        (x, y, z)
    }

    fn from_linear(c: f64) -> f64 {
        if c <= 0.003_130_8 {
            12.92 * c
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors from XEP-0392 §14.
    #[test]
    fn hue_angles_match_the_xep_vectors() {
        for (input, angle) in [
            ("Romeo", 327.255_249),
            ("juliet@capulet.lit", 209.410_400),
            ("😺", 331.199_341),
            ("council", 359.994_507),
        ] {
            assert!(
                (hue_angle(input) - angle).abs() < 1e-4,
                "{input}: {}",
                hue_angle(input)
            );
        }
    }

    #[test]
    fn colours_match_the_xep_vectors() {
        for (input, expected) in [
            ("Romeo", (0.865, 0.000, 0.686)),
            ("juliet@capulet.lit", (0.000, 0.515, 0.573)),
            ("council", (0.918, 0.000, 0.394)),
        ] {
            let (r, g, b) = rgb(input);
            let close = |a: f64, b: f64| (a - b).abs() < 0.002;
            assert!(
                close(r, expected.0) && close(g, expected.1) && close(b, expected.2),
                "{input}: ({r:.3}, {g:.3}, {b:.3})"
            );
        }
    }
}

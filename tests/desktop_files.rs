//! The desktop integration files are valid as the tools that read them
//! judge them: the .desktop file, the AppStream metainfo, the GSettings
//! schema, the translations and the list of translatable files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a validator; fail with its output, or say clearly that it is missing.
fn validate(program: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test (Debian: see README): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Substitute `@key@` placeholders as meson's configure_file does, into
/// `dir/name`; fail on any placeholder left over.
fn configure(template: &Path, dir: &Path, name: &str, values: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(template).expect("read template");
    for (key, value) in values {
        text = text.replace(&format!("@{key}@"), value);
    }
    let leftover = text.split('@').skip(1).step_by(2).find(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    assert!(
        leftover.is_none(),
        "unsubstituted placeholder @{}@ in {}",
        leftover.unwrap_or_default(),
        template.display()
    );
    let out = dir.join(name);
    std::fs::write(&out, text).expect("write configured file");
    out
}

#[test]
fn desktop_file_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    for app_id in ["im.sotto.Sotto", "im.sotto.Sotto.Devel"] {
        let desktop = configure(
            &root().join("data/im.sotto.Sotto.desktop.in"),
            dir.path(),
            &format!("{app_id}.desktop"),
            &[("icon", app_id)],
        );
        validate("desktop-file-validate", &[desktop.as_os_str()]);
        let text = std::fs::read_to_string(&desktop).unwrap();
        assert!(
            text.contains("MimeType=x-scheme-handler/xmpp;"),
            "xmpp: links open Sotto"
        );
        assert!(text.contains(&format!("Icon={app_id}\n")));
    }
}

#[test]
fn metainfo_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metainfo = configure(
        &root().join("data/im.sotto.Sotto.metainfo.xml.in"),
        dir.path(),
        "im.sotto.Sotto.metainfo.xml",
        &[("app-id", "im.sotto.Sotto")],
    );
    validate(
        "appstreamcli",
        &[
            "validate".as_ref(),
            "--no-net".as_ref(),
            metainfo.as_os_str(),
        ],
    );
    let text = std::fs::read_to_string(&metainfo).unwrap();
    assert!(
        text.contains("<release version=\"0.1.0\""),
        "release notes for 0.1.0"
    );
    assert!(text.contains("<content_rating type=\"oars-1.1\">"));
    // The screenshot the metainfo names is the one kept in the tree.
    assert!(text.contains("screenshots/main.png"));
    assert!(root().join("data/screenshots/main.png").is_file());
}

#[test]
fn gsettings_schema_compiles_strictly() {
    validate(
        "glib-compile-schemas",
        &[
            "--strict".as_ref(),
            "--dry-run".as_ref(),
            root().join("data").as_os_str(),
        ],
    );
}

#[test]
fn app_icons_exist_and_are_svg() {
    for icon in [
        "data/icons/hicolor/scalable/apps/im.sotto.Sotto.svg",
        "data/icons/hicolor/symbolic/apps/im.sotto.Sotto-symbolic.svg",
    ] {
        let text =
            std::fs::read_to_string(root().join(icon)).unwrap_or_else(|e| panic!("{icon}: {e}"));
        assert!(
            text.contains("<svg") && text.contains("</svg>"),
            "{icon} is an SVG"
        );
        validate(
            "xmllint",
            &["--noout".as_ref(), root().join(icon).as_os_str()],
        );
    }
}

fn potfiles() -> Vec<String> {
    std::fs::read_to_string(root().join("po/POTFILES"))
        .expect("po/POTFILES")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn potfiles_lists_existing_files() {
    let files = potfiles();
    assert!(!files.is_empty());
    for file in &files {
        assert!(
            root().join(file).is_file(),
            "po/POTFILES lists {file}, which does not exist"
        );
    }
}

/// Every source file that calls the translation helpers, and every .ui file
/// with translatable text, is in POTFILES; otherwise its strings never
/// reach translators.
#[test]
fn potfiles_lists_every_translatable_source() {
    let listed = potfiles();
    let mut missing = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let translatable = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => ["gettext(\"", "gettext_f(\"", "ngettext_f(\"", "gettext(\n"]
                    .iter()
                    .any(|call| text.contains(call)),
                Some("ui") => text.contains("translatable=\"yes\""),
                _ => false,
            };
            let relative = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if translatable && !listed.contains(&relative) && !relative.ends_with("i18n.rs") {
                missing.push(relative);
            }
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "add these to po/POTFILES: {missing:?}");
}

#[test]
fn translations_compile() {
    let linguas = std::fs::read_to_string(root().join("po/LINGUAS")).expect("po/LINGUAS");
    let languages: Vec<&str> = linguas
        .split_whitespace()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(!languages.is_empty(), "at least one translation");
    let dir = tempfile::tempdir().expect("tempdir");
    for lang in languages {
        let po = root().join(format!("po/{lang}.po"));
        assert!(
            po.is_file(),
            "po/LINGUAS names {lang}, but po/{lang}.po is missing"
        );
        let mo = dir.path().join(format!("{lang}.mo"));
        validate(
            "msgfmt",
            &[
                "--check".as_ref(),
                "-o".as_ref(),
                mo.as_os_str(),
                po.as_os_str(),
            ],
        );
    }
}

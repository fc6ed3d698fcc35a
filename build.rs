//! Compiles the GResource bundle (templates, style sheet, icons) and, for
//! uninstalled runs, the GSettings schema. Only the GTK front end needs
//! either, so nothing happens without the `gui` feature: `sotto-cli` builds
//! on a machine without GLib's tools.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_GUI").is_none() {
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    compile_resources(&manifest, &out);
    compile_schemas(&manifest, &out);
}

fn compile_resources(manifest: &Path, out: &Path) {
    let xml = manifest.join("resources/resources.gresource.xml");
    let source_dirs = [
        manifest.join("resources"),
        manifest.join("src"),
        manifest.join("data"),
    ];
    let mut deps = Command::new("glib-compile-resources");
    deps.arg("--generate-dependencies");
    for dir in &source_dirs {
        deps.arg("--sourcedir").arg(dir);
    }
    let listed = run(deps.arg(&xml));
    println!("cargo::rerun-if-changed={}", xml.display());
    for file in String::from_utf8_lossy(&listed).lines() {
        println!("cargo::rerun-if-changed={file}");
    }

    let mut compile = Command::new("glib-compile-resources");
    for dir in &source_dirs {
        compile.arg("--sourcedir").arg(dir);
    }
    run(compile
        .arg("--target")
        .arg(out.join("sotto.gresource"))
        .arg(&xml));
}

/// Installed builds use the schema meson installs; `cargo run` and the UI
/// test fall back to this copy (see `ui::settings`).
fn compile_schemas(manifest: &Path, out: &Path) {
    let schema = manifest.join("data/im.sotto.Sotto.gschema.xml");
    println!("cargo::rerun-if-changed={}", schema.display());
    let dir = out.join("schemas");
    std::fs::create_dir_all(&dir).expect("create schema dir");
    std::fs::copy(&schema, dir.join("im.sotto.Sotto.gschema.xml")).expect("copy schema");
    run(Command::new("glib-compile-schemas")
        .arg("--strict")
        .arg(&dir));
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?} (install libglib2.0-dev-bin): {e}");
    });
    if !output.status.success() {
        panic!(
            "{command:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.stdout
}

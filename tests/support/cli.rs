//! Drive `sotto-cli` as a user would: one data dir is one device.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Cli {
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "sotto-cli failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Each stdout line parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Cli {
    /// A fresh profile in a temp dir.
    pub fn new() -> Cli {
        let tmp = tempfile::Builder::new()
            .prefix("sotto-profile")
            .tempdir()
            .expect("temp dir");
        Cli {
            data_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
        }
    }

    pub fn at(dir: &Path) -> Cli {
        Cli {
            data_dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sotto-cli"));
        cmd.arg("--data-dir").arg(&self.data_dir);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sotto-cli");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        Run::from_output(child.wait_with_output().expect("wait sotto-cli"))
    }

    /// `account add` against the test server with its pinned CA.
    pub fn add_account(&self, server: &super::Prosody, user: &str, password: &str) -> Run {
        let jid = server.jid(user);
        let address = server.address();
        let ca = server.ca_file().display().to_string();
        self.run_with_stdin(
            &[
                "account",
                "add",
                &jid,
                "--password-stdin",
                "--server",
                &address,
                "--ca-file",
                &ca,
            ],
            &format!("{password}\n"),
        )
    }
}

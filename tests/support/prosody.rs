//! A real Prosody (Debian's 0.12) on a free loopback port, with its own
//! config, CA and certificate in a temp dir; stopped when dropped.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::TestPki;

pub const DOMAIN: &str = "sotto.test";

pub struct Prosody {
    /// mod_bookmarks: XEP-0402 kept in sync with XEP-0048 (`#compat`).
    bookmarks_bridge: bool,
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    direct_tls_port: u16,
    pki: TestPki,
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Prosody {
    /// Start a server for [`DOMAIN`] (plus `conference.` for MUC).
    pub fn start() -> Prosody {
        Prosody::start_with_bookmarks_bridge(true)
    }

    /// Without mod_bookmarks the server has no XEP-0402/XEP-0048 bridge
    /// (and says so by not announcing `urn:xmpp:bookmarks:1#compat`).
    pub fn start_with_bookmarks_bridge(bookmarks_bridge: bool) -> Prosody {
        let dir = tempfile::Builder::new()
            .prefix("sotto-prosody")
            .tempdir()
            .expect("temp dir");
        let pki = TestPki::generate(dir.path(), DOMAIN);
        let mut server = Prosody {
            bookmarks_bridge,
            port: free_port(),
            direct_tls_port: free_port(),
            child: None,
            pki,
            dir,
        };
        server.write_config();
        fs::create_dir_all(server.dir.path().join("data")).expect("data dir");
        server.spawn();
        server
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    fn write_config(&self) {
        let template = include_str!("prosody.cfg.lua.in");
        let is_root = unsafe_is_root();
        let d = self.dir.path().display().to_string();
        let cfg = template
            .replace("@DIR@", &d)
            .replace("@PORT@", &self.port.to_string())
            .replace("@DIRECT_TLS_PORT@", &self.direct_tls_port.to_string())
            .replace("@DOMAIN@", DOMAIN)
            .replace(
                "@BOOKMARKS@",
                if self.bookmarks_bridge {
                    "\"bookmarks\";"
                } else {
                    ""
                },
            )
            .replace("@RUN_AS_ROOT@", if is_root { "true" } else { "false" })
            .replace("@CERT@", &self.pki.server_cert.display().to_string())
            .replace("@KEY@", &self.pki.server_key.display().to_string());
        fs::write(self.config_path(), cfg).expect("write prosody config");
    }

    fn spawn(&mut self) {
        let log = fs::File::create(self.dir.path().join("stdout.log")).expect("log file");
        let child = Command::new("prosody")
            .arg("-F")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("prosody not installed? run scripts/install-deps.sh");
        self.child = Some(child);
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("prosody exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("prosody did not start listening:\n{}", self.log());
    }

    pub fn domain(&self) -> &str {
        DOMAIN
    }

    pub fn muc_domain(&self) -> String {
        format!("conference.{DOMAIN}")
    }

    /// `127.0.0.1:PORT` of the STARTTLS listener.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT` of the direct TLS (XEP-0368) listener.
    pub fn direct_tls_address(&self) -> String {
        format!("127.0.0.1:{}", self.direct_tls_port)
    }

    /// The CA that signed the server's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.pki.ca_cert
    }

    /// A CA that did not sign the server's certificate.
    pub fn other_ca_file(&self) -> &Path {
        &self.pki.other_ca_cert
    }

    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{DOMAIN}")
    }

    /// Where Prosody keeps its data (to check what the server stores).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Register an account through prosodyctl.
    pub fn create_user(&self, user: &str, password: &str) {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config_path())
            .args(["register", user, DOMAIN, password])
            .output()
            .expect("prosodyctl");
        assert!(
            out.status.success(),
            "prosodyctl register {user} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Give two offline users a two-way subscription by writing their
    /// rosters into Prosody's internal storage (what the server would hold
    /// after both accepted). Both users must be offline.
    pub fn make_friends(&self, a: &str, a_name: &str, b: &str, b_name: &str) {
        self.add_roster_item(a, b, b_name);
        self.add_roster_item(b, a, a_name);
    }

    fn add_roster_item(&self, owner: &str, contact: &str, name: &str) {
        let host_dir = self
            .data_dir()
            .join(DOMAIN.replace('.', "%2e"))
            .join("roster");
        fs::create_dir_all(&host_dir).expect("roster dir");
        let file = host_dir.join(format!("{owner}.dat"));
        let mut items = fs::read_to_string(&file)
            .ok()
            .and_then(|s| {
                // Keep existing entries: strip the wrapper we write below.
                let body = s.strip_prefix("return {\n")?.strip_suffix("};\n")?;
                Some(body.to_owned())
            })
            .unwrap_or_else(|| "[false] = { version = 1; pending = {}; };\n".to_owned());
        items.push_str(&format!(
            "[\"{contact}@{DOMAIN}\"] = {{ subscription = \"both\"; name = \"{name}\"; groups = {{}}; }};\n"
        ));
        fs::write(&file, format!("return {{\n{items}}};\n")).expect("write roster");
    }

    /// What the server stores for `user` on disk (internal storage): each
    /// store's file, relative to the host's directory, with its text.
    #[allow(dead_code)]
    pub fn stored_files(&self, user: &str) -> Vec<(String, String)> {
        let host_dir = self.data_dir().join(DOMAIN.replace('.', "%2e"));
        let mut found = Vec::new();
        for store in fs::read_dir(&host_dir).into_iter().flatten().flatten() {
            for file in fs::read_dir(store.path()).into_iter().flatten().flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if name.split('.').next() == Some(user) {
                    found.push((
                        format!("{}/{name}", store.file_name().to_string_lossy()),
                        fs::read_to_string(file.path()).unwrap_or_default(),
                    ));
                }
            }
        }
        found.sort();
        found
    }

    /// Stop the server (e.g. to test "server unreachable").
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again after [`Prosody::stop`], same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default();
        s.push_str(&fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default());
        s
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

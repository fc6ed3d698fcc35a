//! The one tokio runtime of the GUI process, on background threads. The GTK
//! main thread never blocks on it: it spawns work here and awaits results
//! on the GLib main context (Fractal's pattern).

use std::future::Future;
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sotto-service")
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            // Without threads there is no app; say why instead of a bare panic.
            eprintln!("sotto: cannot start background threads: {e}");
            std::process::exit(1)
        })
});

pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}

/// Run `fut` on the tokio runtime; await the returned handle from anywhere
/// (including the GLib main context).
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNTIME.spawn(fut)
}

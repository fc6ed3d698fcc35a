//! Sotto, the GNOME app. All of it lives in the library (`sotto::ui`).

use gtk::glib;

fn main() -> glib::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    sotto::ui::run()
}

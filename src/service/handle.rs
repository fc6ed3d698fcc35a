//! The cloneable handle front ends hold, and the event stream they drain.

use tokio::sync::{mpsc, oneshot};

use super::api::{Command, Event, Reply, ServiceError};

#[derive(Debug, Clone)]
pub struct ServiceHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl ServiceHandle {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Command>) -> Self {
        Self { tx }
    }

    /// Fire and forget.
    pub fn send(&self, command: Command) -> Result<(), ServiceError> {
        self.tx.send(command).map_err(|_| ServiceError::Stopped)
    }

    /// Send a request and wait for its answer:
    /// `handle.request(|reply| Command::Snapshot { reply }).await`.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        answer.await.map_err(|_| ServiceError::Stopped)?
    }

    /// Stop the service and wait until it has flushed everything.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown { reply }).is_ok() {
            let _ = done.await;
        }
    }
}

/// Events from the service, in order. Runtime-agnostic: the GTK main loop
/// awaits it with `glib::spawn_future_local`, the CLI on tokio.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Event>) -> Self {
        Self { rx }
    }

    /// The next event, or `None` once the service has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event that is already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

//! An entry row for a value the service owns (a room's subject, one's
//! nickname in it): an edit is sent only on Apply (or Enter), the row
//! waits for the answer with a spinner and cannot be edited meanwhile,
//! and a refusal puts the value the service knows back.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;

#[derive(Debug, Clone)]
pub struct ApplyRow {
    pub row: adw::EntryRow,
    spinner: gtk::Spinner,
    state: Rc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// What the service last reported (or accepted).
    value: RefCell<String>,
    busy: Cell<bool>,
    /// Counts `reset`s: an answer that comes after one is for a value the
    /// row no longer shows.
    epoch: Cell<u64>,
}

impl ApplyRow {
    /// A row titled `title`; `name` lets tests (and the inspector) find it.
    pub fn new(title: &str, name: &str) -> Self {
        let row = adw::EntryRow::builder()
            .title(title)
            .show_apply_button(true)
            .name(name)
            .build();
        let spinner = gtk::Spinner::builder()
            .valign(gtk::Align::Center)
            .visible(false)
            .build();
        row.add_suffix(&spinner);
        Self {
            row,
            spinner,
            state: Rc::default(),
        }
    }

    /// The value the service reports now. The row shows it unless the
    /// user has typed something else meanwhile or an answer is awaited.
    pub fn set_value(&self, value: &str) {
        let previous = self.state.value.replace(value.to_owned());
        if !self.state.busy.get() && self.row.text() == previous.as_str() {
            show(&self.row, value);
        }
    }

    /// Show `value` (of another room, say) and drop any edit, and any
    /// answer still awaited for the value shown before.
    pub fn reset(&self, value: &str) {
        self.state.epoch.set(self.state.epoch.get() + 1);
        set_busy(&self.row, &self.spinner, &self.state, false);
        self.state.value.replace(value.to_owned());
        show(&self.row, value);
    }

    /// Waiting for the service's answer to an edit.
    pub fn is_busy(&self) -> bool {
        self.state.busy.get()
    }

    /// On Apply with changed text, `apply(text)` runs and the row waits for
    /// its answer: `Some(value)`, the value now in effect (the service
    /// may have tidied it), or `None`, refused (the caller says why), and
    /// the known value comes back.
    pub fn connect_apply<F, Fut>(&self, apply: F)
    where
        F: Fn(String) -> Fut + 'static,
        Fut: Future<Output = Option<String>> + 'static,
    {
        let state = self.state.clone();
        // Weak: the row owns this handler, and with it the spinner.
        let spinner = self.spinner.downgrade();
        self.row.connect_apply(move |row| {
            let Some(spinner) = spinner.upgrade() else {
                return;
            };
            let text = row.text().to_string();
            if state.busy.get() || text == *state.value.borrow() {
                return;
            }
            set_busy(row, &spinner, &state, true);
            let answer = apply(text);
            let (row, state, epoch) = (row.downgrade(), state.clone(), state.epoch.get());
            glib::spawn_future_local(async move {
                let answer = answer.await;
                let Some(row) = row.upgrade() else { return };
                if state.epoch.get() != epoch {
                    return;
                }
                set_busy(&row, &spinner, &state, false);
                if let Some(value) = answer {
                    state.value.replace(value);
                }
                show(&row, &state.value.borrow());
            });
        });
    }
}

fn set_busy(row: &adw::EntryRow, spinner: &gtk::Spinner, state: &State, busy: bool) {
    state.busy.set(busy);
    row.set_editable(!busy);
    spinner.set_visible(busy);
    spinner.set_spinning(busy);
}

/// Put `text` into the row as the service's, not as an edit: without
/// the apply button turning up for it.
fn show(row: &adw::EntryRow, text: &str) {
    row.set_show_apply_button(false);
    row.set_text(text);
    row.set_show_apply_button(true);
}

//! The frame the group chat dialogs share (HIG "dialogs with a header
//! bar"): Cancel at the start, the suggested action with its spinner at
//! the end, a clamped scrolling form, and an error box under the form that
//! says what the service answered.

use adw::prelude::*;

/// The parts of a form dialog its owner fills and updates.
#[derive(Debug, Clone)]
pub struct FormParts {
    /// Where the owner adds its groups, above the error box.
    pub content: gtk::Box,
    pub action_button: gtk::Button,
    action_stack: gtk::Stack,
    spinner: gtk::Spinner,
    error_revealer: gtk::Revealer,
    error_label: gtk::Label,
}

impl FormParts {
    /// Build the frame into `window`; the action button runs `action`.
    pub fn build(window: &adw::Window, title: &str, action_label: &str, action: &str) -> Self {
        window.set_title(Some(title));
        window.set_modal(true);
        window.set_destroy_with_parent(true);
        window.set_default_size(460, 640);
        window.set_width_request(360);

        let header = adw::HeaderBar::builder()
            .show_start_title_buttons(false)
            .show_end_title_buttons(false)
            .build();
        let cancel = gtk::Button::builder()
            .label(crate::i18n::gettext("_Cancel"))
            .use_underline(true)
            .action_name("window.close")
            .build();
        header.pack_start(&cancel);
        let action_stack = gtk::Stack::builder().hhomogeneous(false).build();
        action_stack.add_named(
            &gtk::Label::builder()
                .label(action_label)
                .use_underline(true)
                .build(),
            Some("label"),
        );
        let spinner = gtk::Spinner::new();
        action_stack.add_named(&spinner, Some("spinner"));
        let action_button = gtk::Button::builder()
            .child(&action_stack)
            .action_name(action)
            .css_classes(["suggested-action"])
            .build();
        header.pack_end(&action_button);

        let content = gtk::Box::new(gtk::Orientation::Vertical, 18);
        let error_label = gtk::Label::builder()
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .xalign(0.0)
            .hexpand(true)
            .build();
        let error_box = gtk::Box::builder()
            .spacing(12)
            .css_classes(["form-error"])
            .build();
        error_box.append(
            &gtk::Image::builder()
                .icon_name("dialog-warning-symbolic")
                .valign(gtk::Align::Start)
                .build(),
        );
        error_box.append(&error_label);
        let error_revealer = gtk::Revealer::builder()
            .transition_type(gtk::RevealerTransitionType::SlideDown)
            .child(&error_box)
            .build();
        let form = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .margin_top(18)
            .margin_bottom(24)
            .margin_start(12)
            .margin_end(12)
            .build();
        form.append(&error_revealer);
        form.append(&content);
        let clamp = adw::Clamp::builder().maximum_size(460).child(&form).build();
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .child(&clamp)
            .build();
        let outer = gtk::Box::new(gtk::Orientation::Vertical, 0);
        outer.append(&header);
        outer.append(&scrolled);
        window.set_content(Some(&outer));
        Self {
            content,
            action_button,
            action_stack,
            spinner,
            error_revealer,
            error_label,
        }
    }

    /// `None` hides the error box.
    pub fn show_error(&self, message: Option<&str>) {
        if let Some(message) = message {
            self.error_label.set_text(message);
        }
        self.error_revealer.set_reveal_child(message.is_some());
    }

    pub fn error(&self) -> Option<String> {
        self.error_revealer
            .reveals_child()
            .then(|| self.error_label.text().to_string())
    }

    /// While the service works: a spinner in the button, the form frozen.
    pub fn set_busy(&self, busy: bool) {
        self.spinner.set_spinning(busy);
        self.action_stack
            .set_visible_child_name(if busy { "spinner" } else { "label" });
        self.content.set_sensitive(!busy);
    }
}

/// A row for a titled text field.
pub fn entry_row(title: &str) -> adw::EntryRow {
    adw::EntryRow::builder().title(title).build()
}

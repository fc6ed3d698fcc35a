//! The Backup page of Preferences: export the history to one
//! passphrase-encrypted file, import one, a progress bar with cancel, the
//! result, and the reminder setting. The work runs in the service
//! (`Command::ExportBackup` / `ImportBackup`); this page only draws it.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::backup::{BackupStage, PassphraseStrength};
use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::service::{
    BackupProgress, CancelToken, Command, ExportSummary, IdentityOutcome, ImportSummary,
    ServiceError, ServiceHandle,
};
use crate::ui::application::Application;
use crate::ui::preferences::switch_row;

/// The page and the widgets it updates. Cloning shares them.
#[derive(Clone)]
pub struct BackupPage {
    inner: Rc<Inner>,
}

struct Inner {
    page: adw::PreferencesPage,
    export_file_row: adw::ActionRow,
    export_file: RefCell<Option<PathBuf>>,
    passphrase: adw::PasswordEntryRow,
    repeat: adw::PasswordEntryRow,
    strength_row: adw::ActionRow,
    strength_bar: gtk::LevelBar,
    include_identity: gtk::Switch,
    export_button: gtk::Button,
    import_file_row: adw::ActionRow,
    import_file: RefCell<Option<PathBuf>>,
    import_passphrase: adw::PasswordEntryRow,
    restore_identity: gtk::Switch,
    import_button: gtk::Button,
    export_group: adw::PreferencesGroup,
    import_group: adw::PreferencesGroup,
    /// Progress, cancel and result; moved under whichever section runs.
    progress_area: gtk::Box,
    progress_title: gtk::Label,
    progress: gtk::ProgressBar,
    cancel_button: gtk::Button,
    result: gtk::Label,
    last_backup_row: adw::ActionRow,
    reminder: gtk::SpinButton,
    running: RefCell<Option<CancelToken>>,
    chooser: RefCell<Option<gtk::FileChooserNative>>,
}

fn button(label: &str, css: &[&str]) -> gtk::Button {
    gtk::Button::builder()
        .label(label)
        .use_underline(true)
        .valign(gtk::Align::Center)
        .css_classes(css.to_vec())
        .build()
}

impl BackupPage {
    pub fn new() -> Self {
        let page = adw::PreferencesPage::builder()
            .title(gettext("Backup"))
            .icon_name("document-save-symbolic")
            .name("backup")
            .build();

        // ---- export
        let export_group = adw::PreferencesGroup::builder()
            .title(gettext("Back Up History"))
            .description(gettext(
                "Save accounts, contacts, conversations, messages and trust decisions in one file protected by a passphrase. Without the passphrase nobody can read it — not even you.",
            ))
            .build();
        let export_file_row = adw::ActionRow::builder()
            .title(gettext("File"))
            .subtitle(gettext("No file chosen"))
            .build();
        let choose_export = button(&gettext("_Choose…"), &[]);
        choose_export.set_widget_name("choose-export-file");
        export_file_row.add_suffix(&choose_export);
        export_file_row.set_activatable_widget(Some(&choose_export));
        let passphrase = adw::PasswordEntryRow::builder()
            .title(gettext("Passphrase"))
            .name("export-passphrase")
            .build();
        let repeat = adw::PasswordEntryRow::builder()
            .title(gettext("Repeat Passphrase"))
            .name("export-passphrase-repeat")
            .build();
        let strength_bar = gtk::LevelBar::builder()
            .min_value(0.0)
            .max_value(3.0)
            .mode(gtk::LevelBarMode::Discrete)
            .valign(gtk::Align::Center)
            .width_request(96)
            .build();
        strength_bar.add_offset_value(gtk::LEVEL_BAR_OFFSET_LOW, 1.0);
        strength_bar.add_offset_value(gtk::LEVEL_BAR_OFFSET_HIGH, 2.0);
        strength_bar.add_offset_value(gtk::LEVEL_BAR_OFFSET_FULL, 3.0);
        let strength_row = adw::ActionRow::builder()
            .title(gettext("Passphrase Strength"))
            .subtitle(PassphraseStrength::TooShort.label())
            .build();
        strength_row.add_suffix(&strength_bar);
        let (identity_row, include_identity) = switch_row(
            &gettext("Include Encryption Keys"),
            &gettext(
                "Also save this device's OMEMO identity. Risky: anyone with the file and passphrase can read messages sent to this device, and a second device restored from it breaks the encrypted sessions of both. Leave it off to restore history only; the new computer gets keys of its own.",
            ),
            "include-identity",
        );
        let export_button = button(&gettext("_Back Up…"), &["suggested-action", "pill"]);
        export_button.set_widget_name("export");
        export_button.set_halign(gtk::Align::Center);
        export_button.set_margin_top(12);
        export_button.set_sensitive(false);
        for row in [
            export_file_row.upcast_ref::<gtk::Widget>(),
            passphrase.upcast_ref(),
            repeat.upcast_ref(),
            strength_row.upcast_ref(),
            identity_row.upcast_ref(),
        ] {
            export_group.add(row);
        }
        export_group.add(&export_button);

        // ---- import
        let import_group = adw::PreferencesGroup::builder()
            .title(gettext("Restore History"))
            .description(gettext(
                "Add the history from a backup file to this device. Messages already here are kept and not doubled.",
            ))
            .build();
        let import_file_row = adw::ActionRow::builder()
            .title(gettext("File"))
            .subtitle(gettext("No file chosen"))
            .build();
        let choose_import = button(&gettext("C_hoose…"), &[]);
        choose_import.set_widget_name("choose-import-file");
        import_file_row.add_suffix(&choose_import);
        import_file_row.set_activatable_widget(Some(&choose_import));
        let import_passphrase = adw::PasswordEntryRow::builder()
            .title(gettext("Passphrase"))
            .name("import-passphrase")
            .build();
        let (restore_row, restore_identity) = switch_row(
            &gettext("Restore Encryption Keys"),
            &gettext(
                "Only when the device the backup came from is gone for good. Refused if this device already has keys of its own.",
            ),
            "restore-identity",
        );
        let import_button = button(&gettext("_Restore"), &["pill"]);
        import_button.set_widget_name("import");
        import_button.set_halign(gtk::Align::Center);
        import_button.set_margin_top(12);
        import_button.set_sensitive(false);
        import_group.add(&import_file_row);
        import_group.add(&import_passphrase);
        import_group.add(&restore_row);
        import_group.add(&import_button);

        // ---- progress and result (shown while and after something runs)
        let progress_area = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(6)
            .margin_top(18)
            .visible(false)
            .name("progress")
            .build();
        let progress_title = gtk::Label::builder()
            .xalign(0.0)
            .css_classes(["heading"])
            .build();
        let progress = gtk::ProgressBar::builder()
            .show_text(true)
            .hexpand(true)
            .valign(gtk::Align::Center)
            .build();
        let cancel_button = button(&gettext("_Cancel"), &["destructive-action"]);
        cancel_button.set_widget_name("cancel");
        let progress_box = gtk::Box::builder().spacing(12).build();
        progress_box.append(&progress);
        progress_box.append(&cancel_button);
        let result = gtk::Label::builder()
            .wrap(true)
            .xalign(0.0)
            .selectable(true)
            .visible(false)
            .name("result")
            .build();
        progress_area.append(&progress_title);
        progress_area.append(&progress_box);
        progress_area.append(&result);

        // ---- reminder
        let reminder_group = adw::PreferencesGroup::builder()
            .title(gettext("Reminder"))
            .build();
        let last_backup_row = adw::ActionRow::builder()
            .title(gettext("Last Backup"))
            .subtitle(gettext("Never"))
            .build();
        last_backup_row.add_css_class("property");
        let reminder = gtk::SpinButton::with_range(0.0, 365.0, 1.0);
        reminder.set_valign(gtk::Align::Center);
        let reminder_row = adw::ActionRow::builder()
            .title(gettext("Remind After Days"))
            .subtitle(gettext(
                "Days without a backup before Sotto reminds you; 0 never reminds",
            ))
            .activatable_widget(&reminder)
            .build();
        reminder_row.add_suffix(&reminder);
        reminder_group.add(&last_backup_row);
        reminder_group.add(&reminder_row);

        page.add(&export_group);
        page.add(&import_group);
        page.add(&reminder_group);

        let this = BackupPage {
            inner: Rc::new(Inner {
                page,
                export_file_row,
                export_file: RefCell::default(),
                passphrase,
                repeat,
                strength_row,
                strength_bar,
                include_identity,
                export_button,
                import_file_row,
                import_file: RefCell::default(),
                import_passphrase,
                restore_identity,
                import_button,
                export_group,
                import_group,
                progress_area,
                progress_title,
                progress,
                cancel_button,
                result,
                last_backup_row,
                reminder,
                running: RefCell::default(),
                chooser: RefCell::default(),
            }),
        };
        this.connect(&choose_export, &choose_import);
        this.load_status();
        this
    }

    pub fn widget(&self) -> &adw::PreferencesPage {
        &self.inner.page
    }

    /// What the file chooser sets; tests set it directly.
    pub fn set_export_file(&self, path: &Path) {
        self.inner
            .export_file_row
            .set_subtitle(&glib::markup_escape_text(&path.display().to_string()));
        self.inner.export_file.replace(Some(path.to_path_buf()));
        self.update_sensitivity();
    }

    pub fn set_import_file(&self, path: &Path) {
        self.inner
            .import_file_row
            .set_subtitle(&glib::markup_escape_text(&path.display().to_string()));
        self.inner.import_file.replace(Some(path.to_path_buf()));
        self.update_sensitivity();
    }

    /// Whether an export or import is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.borrow().is_some()
    }

    fn connect(&self, choose_export: &gtk::Button, choose_import: &gtk::Button) {
        let weak = Rc::downgrade(&self.inner);
        let this = move || weak.upgrade().map(|inner| BackupPage { inner });
        let t = this.clone();
        choose_export.connect_clicked(move |_| {
            if let Some(page) = t() {
                page.choose(gtk::FileChooserAction::Save);
            }
        });
        let t = this.clone();
        choose_import.connect_clicked(move |_| {
            if let Some(page) = t() {
                page.choose(gtk::FileChooserAction::Open);
            }
        });
        for entry in [
            &self.inner.passphrase,
            &self.inner.repeat,
            &self.inner.import_passphrase,
        ] {
            let t = this.clone();
            entry.connect_changed(move |_| {
                if let Some(page) = t() {
                    page.update_sensitivity();
                }
            });
        }
        let t = this.clone();
        self.inner.export_button.connect_clicked(move |_| {
            if let Some(page) = t() {
                page.start(true);
            }
        });
        let t = this.clone();
        self.inner.import_button.connect_clicked(move |_| {
            if let Some(page) = t() {
                page.start(false);
            }
        });
        let t = this.clone();
        self.inner.cancel_button.connect_clicked(move |button| {
            if let Some(page) = t()
                && let Some(cancel) = page.inner.running.borrow().as_ref()
            {
                cancel.cancel();
                button.set_sensitive(false);
                page.inner.progress.set_text(Some(&gettext("Cancelling…")));
            }
        });
        let t = this;
        self.inner.reminder.connect_value_changed(move |spin| {
            let days = spin.value_as_int().max(0) as u32;
            if t().is_some()
                && let Some(service) = service()
            {
                glib::spawn_future_local(async move {
                    let _ = service
                        .request(|reply| Command::SetBackupReminder { days, reply })
                        .await;
                });
            }
        });
    }

    fn choose(&self, action: gtk::FileChooserAction) {
        let parent = self.inner.page.root().and_downcast::<gtk::Window>();
        let (title, accept) = if action == gtk::FileChooserAction::Save {
            (gettext("Save Backup"), gettext("_Save"))
        } else {
            (gettext("Open Backup"), gettext("_Open"))
        };
        // Through the portal when sandboxed (FileChooserNative).
        let chooser = gtk::FileChooserNative::new(
            Some(&title),
            parent.as_ref(),
            action,
            Some(&accept),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        if action == gtk::FileChooserAction::Save {
            chooser.set_current_name(&format!(
                "sotto-backup-{}.age",
                glib::DateTime::now_local()
                    .and_then(|d| d.format("%Y-%m-%d"))
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            ));
        }
        let weak = Rc::downgrade(&self.inner);
        chooser.connect_response(move |chooser, response| {
            let Some(inner) = weak.upgrade() else { return };
            let page = BackupPage { inner };
            if response == gtk::ResponseType::Accept
                && let Some(path) = chooser.file().and_then(|f| f.path())
            {
                if action == gtk::FileChooserAction::Save {
                    page.set_export_file(&path);
                } else {
                    page.set_import_file(&path);
                }
            }
            page.inner.chooser.replace(None);
        });
        chooser.show();
        self.inner.chooser.replace(Some(chooser));
    }

    fn update_sensitivity(&self) {
        let i = &self.inner;
        let pass = i.passphrase.text();
        let strength = PassphraseStrength::of(&pass);
        i.strength_bar.set_value(match strength {
            PassphraseStrength::TooShort => 0.0,
            PassphraseStrength::Weak => 1.0,
            PassphraseStrength::Fair => 2.0,
            PassphraseStrength::Strong => 3.0,
        });
        let matches = pass == i.repeat.text();
        let hint = if !i.repeat.text().is_empty() && !matches {
            gettext("The passphrases do not match")
        } else {
            strength.label()
        };
        i.strength_row
            .set_subtitle(&glib::markup_escape_text(&hint));
        let idle = !self.is_running();
        i.export_button.set_sensitive(
            idle && i.export_file.borrow().is_some()
                && strength != PassphraseStrength::TooShort
                && matches,
        );
        i.import_button.set_sensitive(
            idle && i.import_file.borrow().is_some() && !i.import_passphrase.text().is_empty(),
        );
    }

    fn load_status(&self) {
        let Some(service) = service() else { return };
        let weak = Rc::downgrade(&self.inner);
        glib::spawn_future_local(async move {
            let status = service
                .request(|reply| Command::BackupStatus { reply })
                .await;
            let Some(inner) = weak.upgrade() else { return };
            if let Ok(status) = status {
                let page = BackupPage { inner };
                page.show_last_backup(status.last_export_at, status.due);
                page.inner
                    .reminder
                    .set_value(f64::from(status.reminder_days));
            }
        });
    }

    fn show_last_backup(&self, at: Option<i64>, due: bool) {
        let when = match at.and_then(|ms| glib::DateTime::from_unix_local(ms / 1000).ok()) {
            Some(d) => d.format("%x %X").map(|s| s.to_string()).unwrap_or_default(),
            None => gettext("Never"),
        };
        let text = if due {
            gettext_f("{when} — time for a new backup", &[("when", &when)])
        } else {
            when
        };
        self.inner
            .last_backup_row
            .set_subtitle(&glib::markup_escape_text(&text));
    }

    fn start(&self, export: bool) {
        let Some(service) = service() else { return };
        let i = &self.inner;
        let path = if export {
            i.export_file.borrow().clone()
        } else {
            i.import_file.borrow().clone()
        };
        let Some(path) = path else { return };
        let entry = if export {
            &i.passphrase
        } else {
            &i.import_passphrase
        };
        let passphrase = Zeroizing::new(entry.text().to_string());
        // The passphrase does not linger in the entries once used.
        i.passphrase.set_text("");
        i.repeat.set_text("");
        i.import_passphrase.set_text("");

        let cancel = CancelToken::new();
        i.running.replace(Some(cancel.clone()));
        self.update_sensitivity();
        let (group, title) = if export {
            (&i.export_group, gettext("Backing Up"))
        } else {
            (&i.import_group, gettext("Restoring"))
        };
        if i.progress_area.parent().is_some()
            && let Some(current) = i
                .progress_area
                .ancestor(adw::PreferencesGroup::static_type())
                .and_downcast::<adw::PreferencesGroup>()
        {
            current.remove(&i.progress_area);
        }
        group.add(&i.progress_area);
        i.progress_area.set_visible(true);
        i.progress_title.set_text(&title);
        i.progress.set_fraction(0.0);
        // scrypt takes about a second before the first record moves.
        i.progress
            .set_text(Some(&gettext("Preparing the encryption…")));
        i.cancel_button.set_visible(true);
        i.cancel_button.set_sensitive(true);
        i.result.set_visible(false);

        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<BackupProgress>();
        let weak = Rc::downgrade(&self.inner);
        glib::spawn_future_local(async move {
            while let Some(p) = progress_rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                if inner.cancel_button.is_sensitive() {
                    inner.progress.set_fraction(p.fraction());
                    let counts = [("done", p.done.to_string()), ("total", p.total.to_string())];
                    let counts = counts.each_ref().map(|(k, v)| (*k, v.as_str()));
                    inner.progress.set_text(Some(&match p.stage {
                        BackupStage::Checking => {
                            gettext_f("Checking the file: {done} of {total} items", &counts)
                        }
                        BackupStage::Saving => gettext_f("{done} of {total} items", &counts),
                    }));
                }
            }
        });
        let include_identity = i.include_identity.is_active();
        let restore_identity = i.restore_identity.is_active();
        let weak = Rc::downgrade(&self.inner);
        glib::spawn_future_local(async move {
            let outcome = if export {
                service
                    .request(|reply| Command::ExportBackup {
                        path,
                        passphrase,
                        include_identity,
                        progress: progress_tx,
                        cancel,
                        reply,
                    })
                    .await
                    .map(Outcome::Exported)
            } else {
                service
                    .request(|reply| Command::ImportBackup {
                        path,
                        passphrase,
                        restore_identity,
                        progress: progress_tx,
                        cancel,
                        reply,
                    })
                    .await
                    .map(Outcome::Imported)
            };
            if let Some(inner) = weak.upgrade() {
                BackupPage { inner }.finish(outcome);
            }
        });
    }

    fn finish(&self, outcome: Result<Outcome, ServiceError>) {
        let i = &self.inner;
        i.running.replace(None);
        i.cancel_button.set_visible(false);
        i.result.set_visible(true);
        i.result.remove_css_class("error");
        i.result.remove_css_class("warning");
        match outcome {
            Ok(Outcome::Exported(summary)) => {
                i.progress.set_fraction(1.0);
                i.progress.set_text(Some(&gettext("Done")));
                i.result.set_text(&export_summary(&summary));
                self.show_last_backup(Some(crate::store::now_ms()), false);
                if let Some(app) = Application::instance() {
                    app.main_window().dismiss_backup_reminder();
                }
            }
            Ok(Outcome::Imported(summary)) => {
                i.progress.set_fraction(1.0);
                i.progress.set_text(Some(&gettext("Done")));
                i.result.set_text(&import_summary(&summary));
                if summary.identity == IdentityOutcome::Restored {
                    i.result.add_css_class("warning");
                }
            }
            Err(error) => {
                i.progress.set_text(Some(&gettext("Stopped")));
                i.result.set_text(&error.user_message());
                i.result.add_css_class("error");
            }
        }
        self.update_sensitivity();
    }

    /// The text of the result line (for tests).
    pub fn result_text(&self) -> Option<String> {
        self.inner
            .result
            .is_visible()
            .then(|| self.inner.result.text().to_string())
    }

    /// The progress bar's fraction (for tests).
    pub fn progress_fraction(&self) -> f64 {
        self.inner.progress.fraction()
    }

    /// Press Cancel, as a person would.
    pub fn cancel(&self) {
        self.inner.cancel_button.emit_clicked();
    }
}

impl std::fmt::Debug for BackupPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupPage")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Default for BackupPage {
    fn default() -> Self {
        Self::new()
    }
}

enum Outcome {
    Exported(ExportSummary),
    Imported(ImportSummary),
}

fn service() -> Option<ServiceHandle> {
    Application::instance()?.service()
}

fn count(n: u64) -> u32 {
    n.min(u64::from(u32::MAX)) as u32
}

fn export_summary(s: &ExportSummary) -> String {
    let messages = ngettext_f("{n} message", "{n} messages", count(s.counts.messages), &[]);
    let conversations = ngettext_f(
        "{n} conversation",
        "{n} conversations",
        count(s.counts.conversations),
        &[],
    );
    let mut text = gettext_f(
        "Saved {messages} in {conversations} to {path}.",
        &[
            ("messages", &messages),
            ("conversations", &conversations),
            ("path", &s.path),
        ],
    );
    if s.includes_identity {
        text.push(' ');
        text.push_str(&gettext(
            "The file holds this device's encryption keys: keep it as safe as the device.",
        ));
    }
    text
}

fn import_summary(s: &ImportSummary) -> String {
    let mut text = if s.added.messages == 0 {
        ngettext_f(
            "Nothing new: the {n} message in the file was already here.",
            "Nothing new: all {n} messages in the file were already here.",
            count(s.present.messages),
            &[],
        )
    } else {
        let added = ngettext_f(
            "{n} new message",
            "{n} new messages",
            count(s.added.messages),
            &[],
        );
        let present = ngettext_f(
            "{n} was already here",
            "{n} were already here",
            count(s.present.messages),
            &[],
        );
        gettext_f(
            "Restored {added}; {present}.",
            &[("added", &added), ("present", &present)],
        )
    };
    let extras: Vec<String> = [
        (
            s.added.conversations,
            ngettext_f(
                "{n} conversation",
                "{n} conversations",
                count(s.added.conversations),
                &[],
            ),
        ),
        (
            s.added.contacts,
            ngettext_f("{n} contact", "{n} contacts", count(s.added.contacts), &[]),
        ),
        (
            s.added.trust,
            ngettext_f(
                "{n} trust decision",
                "{n} trust decisions",
                count(s.added.trust),
                &[],
            ),
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(_, text)| text)
    .collect();
    if !extras.is_empty() {
        text.push(' ');
        // Translators: {items} is a comma-separated list such as "3 conversations, 2 contacts".
        text.push_str(&gettext_f(
            "Also added: {items}.",
            &[("items", &extras.join(", "))],
        ));
    }
    match s.identity {
        IdentityOutcome::Restored => {
            text.push(' ');
            text.push_str(&gettext(
                "The encryption keys were restored: do not use the device the backup came from any more.",
            ));
        }
        IdentityOutcome::Skipped => {
            text.push(' ');
            text.push_str(&gettext(
                "The encryption keys in the file were not restored; this device keeps its own.",
            ));
        }
        IdentityOutcome::NotInFile => {}
    }
    text
}

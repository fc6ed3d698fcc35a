//! "Scan QR Code": read a contact's trust code from the camera or a
//! picture (file, clipboard or drag and drop), show what it would do, and
//! only then save (issue 7, ARCHITECTURE.md "Trust"). A mismatch is never
//! trusted.
//!
//! The camera runs while the first page shows (`crate::qr::FrameSource`):
//! frames arrive on a GStreamer thread, the newest one is handed to the
//! main loop through a `watch` channel and shown as a texture, and a
//! `QrScanner` decodes a few per second on its own thread. Any other way
//! in, a found code, an error or closing the dialog stops it.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gdk, gio, glib};

use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::qr::{CameraError, CameraEvent, FoundCode, Frame, FrameSource, QrScanner, VideoSource};
use crate::service::{Command, QrCheck, QrOutcome, QrSummary};
use crate::ui::application::Application;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct QrScanDialog {
        pub account: RefCell<String>,
        /// The decoded text of the code being looked at.
        pub uri: RefCell<Option<String>>,
        pub summary: RefCell<Option<QrSummary>>,
        pub stack: gtk::Stack,
        pub error_label: gtk::Label,
        pub summary_box: gtk::Box,
        pub verify_button: gtk::Button,
        pub cancel_button: gtk::Button,
        pub add_contact_button: gtk::Button,
        pub chooser: RefCell<Option<gtk::FileChooserNative>>,
        /// The running camera; dropping it stops the pipeline.
        pub camera: RefCell<Option<FrameSource>>,
        /// Bumped whenever the camera starts or stops, so that news from
        /// an older run is ignored.
        pub camera_run: Cell<u64>,
        pub picture: gtk::Picture,
        pub camera_hint: gtk::Label,
        /// Why there is no camera, on the first page.
        pub camera_problem: gtk::Label,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QrScanDialog {
        const NAME: &'static str = "SottoQrScanDialog";
        type Type = super::QrScanDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("qr-scan.open", None, |dialog, _, _| dialog.choose_file());
            klass.install_action("qr-scan.paste", None, |dialog, _, _| dialog.paste());
            klass.install_action("qr-scan.verify", None, |dialog, _, _| dialog.verify());
            klass.install_action("qr-scan.again", None, |dialog, _, _| dialog.start_over());
            klass.install_action("qr-scan.camera", None, |dialog, _, _| dialog.start_camera());
            klass.install_action("qr-scan.add-contact", None, |dialog, _, _| {
                dialog.add_contact()
            });
            klass.add_binding_action(
                gdk::Key::v,
                gdk::ModifierType::CONTROL_MASK,
                "qr-scan.paste",
            );
            klass.add_binding_action(gdk::Key::Escape, gdk::ModifierType::empty(), "window.close");
        }
    }

    impl ObjectImpl for QrScanDialog {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().build();
        }

        fn dispose(&self) {
            self.obj().stop_camera();
        }
    }

    impl WidgetImpl for QrScanDialog {
        fn map(&self) {
            self.parent_map();
            // Opened on a link or a file, the dialog is busy already.
            let idle = self.uri.borrow().is_none()
                && self.stack.visible_child_name().as_deref() == Some("start");
            if idle {
                self.obj().start_camera();
            }
        }

        fn unmap(&self) {
            self.obj().stop_camera();
            self.parent_unmap();
        }
    }
    impl WindowImpl for QrScanDialog {}
    impl AdwWindowImpl for QrScanDialog {}
}

glib::wrapper! {
    pub struct QrScanDialog(ObjectSubclass<imp::QrScanDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl QrScanDialog {
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .property("modal", true)
            .build();
        dialog.imp().account.replace(account.to_owned());
        dialog
    }

    /// What the code being looked at would do (or, once applied, did).
    pub fn summary(&self) -> Option<QrSummary> {
        self.imp().summary.borrow().clone()
    }

    /// The error shown on the first page, if any.
    pub fn error(&self) -> Option<String> {
        let label = &self.imp().error_label;
        label.is_visible().then(|| label.text().to_string())
    }

    /// Why the camera cannot be used, as the first page says it.
    pub fn camera_problem(&self) -> Option<String> {
        let label = &self.imp().camera_problem;
        label.is_visible().then(|| label.text().to_string())
    }

    /// The camera is running.
    pub fn camera_running(&self) -> bool {
        self.imp().camera.borrow().is_some()
    }

    /// Start the camera and show it; a trust code it sees goes through
    /// the same preview as a picture.
    pub fn start_camera(&self) {
        self.start_camera_from(VideoSource::Camera);
    }

    /// [`Self::start_camera`] on another source: tests play a picture.
    pub fn start_camera_from(&self, source: VideoSource) {
        let imp = self.imp();
        if imp.camera.borrow().is_some() {
            return;
        }
        let run = imp.camera_run.get() + 1;
        imp.camera_run.set(run);
        imp.picture.set_paintable(None::<&gdk::Paintable>);
        imp.camera_hint.set_text(&gettext("Starting the camera…"));
        imp.error_label.set_visible(false);
        imp.stack.set_visible_child_name("camera");

        // Only the newest frame matters: a watch channel keeps just that.
        let (frames_tx, mut frames_rx) = tokio::sync::watch::channel::<Option<Frame>>(None);
        let (news_tx, mut news_rx) = tokio::sync::mpsc::unbounded_channel::<CameraNews>();
        let found_tx = news_tx.clone();
        let scanner = match QrScanner::start(crate::qr::SCAN_INTERVAL, move |found| {
            let _ = found_tx.send(CameraNews::Found(found));
        }) {
            Ok(scanner) => Arc::new(scanner),
            Err(error) => return self.show_camera_problem(&error),
        };
        let on_event = move |event: CameraEvent| match event {
            CameraEvent::Frame(frame) => {
                scanner.offer(&frame);
                frames_tx.send_replace(Some(frame));
            }
            CameraEvent::Failed(error) => {
                let _ = news_tx.send(CameraNews::Failed(error));
            }
        };

        let weak = self.downgrade();
        glib::spawn_future_local(async move {
            // Finding and opening the device can take a moment.
            let started = gio::spawn_blocking(move || FrameSource::start(&source, on_event)).await;
            let Some(dialog) = weak.upgrade() else {
                return;
            };
            let current = dialog.imp().camera_run.get() == run;
            match started {
                Ok(Ok(camera)) if current => {
                    dialog.imp().camera.replace(Some(camera));
                }
                // Stopped meanwhile: drop it, which stops it.
                Ok(Ok(_)) => {}
                Ok(Err(error)) if current => dialog.show_camera_problem(&error),
                // Not shown, but true: the page offers the camera again.
                Ok(Err(error)) => dialog.note_camera_problem(&error),
                Err(_) if current => dialog.show_camera_problem(&CameraError::Pipeline {
                    detail: "the camera could not be started".into(),
                }),
                Err(_) => {}
            }
        });

        let weak = self.downgrade();
        glib::spawn_future_local(async move {
            // Ends when the pipeline (which owns the sender) is dropped.
            while frames_rx.changed().await.is_ok() {
                let frame = frames_rx.borrow_and_update().clone();
                let Some(dialog) = weak.upgrade() else {
                    return;
                };
                if dialog.imp().camera_run.get() != run {
                    return;
                }
                if let Some(frame) = frame {
                    dialog.show_frame(frame);
                }
            }
        });

        let weak = self.downgrade();
        glib::spawn_future_local(async move {
            if let Some(news) = news_rx.recv().await {
                let Some(dialog) = weak.upgrade() else {
                    return;
                };
                if dialog.imp().camera_run.get() != run {
                    return;
                }
                dialog.stop_camera();
                match news {
                    CameraNews::Found(found) => dialog.scan_text(&found.text),
                    CameraNews::Failed(error) => dialog.show_camera_problem(&error),
                }
            }
        });
    }

    /// Stop the camera (the pipeline goes to `Null`); nothing it still
    /// sends is used.
    pub fn stop_camera(&self) {
        let imp = self.imp();
        imp.camera_run.set(imp.camera_run.get() + 1);
        let camera = imp.camera.take();
        drop(camera);
    }

    fn show_frame(&self, frame: Frame) {
        let imp = self.imp();
        let (Ok(width), Ok(height)) = (i32::try_from(frame.width), i32::try_from(frame.height))
        else {
            return;
        };
        let stride = frame.stride;
        let texture = gdk::MemoryTexture::new(
            width,
            height,
            gdk::MemoryFormat::R8g8b8a8,
            &glib::Bytes::from_owned(frame),
            stride,
        );
        if imp.picture.paintable().is_none() {
            imp.camera_hint
                .set_text(&gettext("Hold the contact's code in front of the camera."));
        }
        imp.picture.set_paintable(Some(&texture));
    }

    /// No camera: say why, in plain words, and offer the other ways.
    fn show_camera_problem(&self, error: &CameraError) {
        self.stop_camera();
        self.note_camera_problem(error);
        self.imp().stack.set_visible_child_name("start");
    }

    fn note_camera_problem(&self, error: &CameraError) {
        tracing::info!("camera: {error}");
        let label = &self.imp().camera_problem;
        label.set_text(&error.user_message());
        label.set_visible(true);
    }

    /// Read the code in the picture `file` (any format GTK can load).
    pub fn scan_file(&self, file: &gio::File) {
        self.set_busy();
        let file = file.clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                match file.load_bytes_future().await {
                    Ok((bytes, _)) => match gdk::Texture::from_bytes(&bytes) {
                        Ok(texture) => dialog.scan_texture(&texture),
                        Err(error) => dialog.show_error(&gettext_f(
                            "The picture could not be read: {detail}",
                            &[("detail", error.message())],
                        )),
                    },
                    Err(error) => dialog.show_error(&gettext_f(
                        "The picture could not be read: {detail}",
                        &[("detail", error.message())],
                    )),
                }
            }
        ));
    }

    /// Read the code in a picture already in memory.
    pub fn scan_texture(&self, texture: &gdk::Texture) {
        self.set_busy();
        let (width, height) = (texture.width(), texture.height());
        let stride = width as usize * 4;
        let mut pixels = vec![0u8; stride * height as usize];
        // GTK 4.8 downloads in Cairo's ARGB32: B, G, R, A in memory on
        // little-endian machines; the decoder wants R, G, B, A.
        texture.download(&mut pixels, stride);
        if cfg!(target_endian = "little") {
            for pixel in pixels.chunks_exact_mut(4) {
                pixel.swap(0, 2);
            }
        } else {
            for pixel in pixels.chunks_exact_mut(4) {
                pixel.rotate_left(1);
            }
        }
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                // Decoding a large photo takes a while: keep it off the
                // main thread.
                let decoded = gio::spawn_blocking(move || {
                    crate::qr::decode_rgba(&pixels, width as u32, height as u32, stride)
                })
                .await;
                match decoded {
                    Ok(Ok(text)) => dialog.scan_text(&text),
                    Ok(Err(error)) => dialog.show_error(&error.user_message()),
                    Err(_) => dialog.show_error(&gettext("The picture could not be read.")),
                }
            }
        ));
    }

    /// Check the decoded text of a code against the server (saves nothing).
    pub fn scan_text(&self, text: &str) {
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return self.show_error(&gettext("Sotto is still starting. Try again in a moment."));
        };
        self.set_busy();
        let account = self.imp().account.borrow().clone();
        let uri = text.trim().to_owned();
        self.imp().uri.replace(Some(uri.clone()));
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::PreviewQr {
                        account,
                        uri,
                        reply,
                    })
                    .await;
                match result {
                    Ok(summary) => dialog.show_summary(summary),
                    Err(error) => dialog.show_error(&error.user_message()),
                }
            }
        ));
    }

    fn build(&self) {
        let imp = self.imp();
        self.set_title(Some(&gettext("Scan QR Code")));
        self.set_default_size(520, 640);

        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&adw::HeaderBar::new());

        // The camera page: the live picture, and the other ways below it.
        let camera = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .margin_top(12)
            .margin_bottom(18)
            .margin_start(18)
            .margin_end(18)
            .build();
        imp.picture.set_content_fit(gtk::ContentFit::Contain);
        imp.picture.set_can_shrink(true);
        imp.picture.set_vexpand(true);
        imp.picture.set_widget_name("qr_camera");
        imp.picture
            .set_alternative_text(Some(&gettext("Camera picture")));
        camera.append(&imp.picture);
        imp.camera_hint.set_wrap(true);
        imp.camera_hint.set_justify(gtk::Justification::Center);
        imp.camera_hint.add_css_class("dim-label");
        camera.append(&imp.camera_hint);
        let camera_ways = gtk::Box::builder()
            .spacing(12)
            .halign(gtk::Align::Center)
            .build();
        for (label, action) in [
            (gettext("_Open Image…"), "qr-scan.open"),
            (gettext("_Paste"), "qr-scan.paste"),
        ] {
            let button = gtk::Button::builder()
                .label(label)
                .use_underline(true)
                .action_name(action)
                .build();
            button.add_css_class("pill");
            camera_ways.append(&button);
        }
        camera.append(&camera_ways);
        imp.stack.add_named(&camera, Some("camera"));

        // The first page without the camera: the ways in.
        let start = adw::StatusPage::builder()
            .icon_name("qr-code-symbolic")
            .title(gettext("Scan a Contact's Code"))
            .description(gettext(
                "Open a picture of the code, paste one with Ctrl+V, or drop an image file here.",
            ))
            .vexpand(true)
            .build();
        // Not every icon theme has the QR icon.
        if !gtk::IconTheme::for_display(&WidgetExt::display(self)).has_icon("qr-code-symbolic") {
            start.set_icon_name(Some("image-x-generic-symbolic"));
        }
        let ways = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .halign(gtk::Align::Center)
            .build();
        let open = gtk::Button::builder()
            .label(gettext("_Open Image…"))
            .use_underline(true)
            .action_name("qr-scan.open")
            .build();
        open.add_css_class("pill");
        open.add_css_class("suggested-action");
        let paste = gtk::Button::builder()
            .label(gettext("_Paste"))
            .use_underline(true)
            .action_name("qr-scan.paste")
            .build();
        paste.add_css_class("pill");
        ways.append(&open);
        ways.append(&paste);
        let use_camera = gtk::Button::builder()
            .label(gettext("Use _Camera"))
            .use_underline(true)
            .action_name("qr-scan.camera")
            .build();
        use_camera.add_css_class("pill");
        ways.append(&use_camera);
        imp.camera_problem.set_wrap(true);
        imp.camera_problem.set_justify(gtk::Justification::Center);
        imp.camera_problem.set_visible(false);
        imp.camera_problem.set_widget_name("qr_camera_problem");
        ways.append(&imp.camera_problem);
        imp.error_label.set_wrap(true);
        imp.error_label.set_justify(gtk::Justification::Center);
        imp.error_label.add_css_class("error");
        imp.error_label.set_visible(false);
        imp.error_label.set_widget_name("qr_scan_error");
        ways.append(&imp.error_label);
        start.set_child(Some(&ways));
        imp.stack.add_named(&start, Some("start"));

        let spinner = gtk::Spinner::builder()
            .spinning(true)
            .width_request(32)
            .height_request(32)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Center)
            .build();
        imp.stack.add_named(&spinner, Some("busy"));

        // The summary, before anything is saved.
        let page = gtk::Box::new(gtk::Orientation::Vertical, 0);
        imp.summary_box.set_orientation(gtk::Orientation::Vertical);
        imp.summary_box.set_spacing(12);
        imp.summary_box.set_margin_top(18);
        imp.summary_box.set_margin_bottom(18);
        imp.summary_box.set_margin_start(18);
        imp.summary_box.set_margin_end(18);
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .child(&imp.summary_box)
            .build();
        page.append(&scrolled);
        let actions = gtk::Box::builder()
            .spacing(12)
            .margin_top(12)
            .margin_bottom(12)
            .margin_start(18)
            .margin_end(18)
            .build();
        imp.add_contact_button.set_label(&gettext("_Add Contact"));
        imp.add_contact_button.set_use_underline(true);
        imp.add_contact_button
            .set_action_name(Some("qr-scan.add-contact"));
        imp.add_contact_button.set_widget_name("qr_add_contact");
        actions.append(&imp.add_contact_button);
        let spacer = gtk::Box::builder().hexpand(true).build();
        actions.append(&spacer);
        imp.cancel_button.set_label(&gettext("_Cancel"));
        imp.cancel_button.set_use_underline(true);
        imp.cancel_button.set_action_name(Some("window.close"));
        imp.cancel_button.set_widget_name("qr_cancel");
        actions.append(&imp.cancel_button);
        imp.verify_button.set_use_underline(true);
        imp.verify_button.set_action_name(Some("qr-scan.verify"));
        imp.verify_button.add_css_class("suggested-action");
        imp.verify_button.set_widget_name("qr_verify");
        actions.append(&imp.verify_button);
        page.append(&actions);
        imp.stack.add_named(&page, Some("summary"));

        imp.stack.set_vexpand(true);
        imp.stack.set_visible_child_name("start");
        content.append(&imp.stack);
        self.set_content(Some(&content));
        self.setup_drop();
    }

    fn setup_drop(&self) {
        let target = gtk::DropTarget::new(glib::Type::INVALID, gdk::DragAction::COPY);
        target.set_types(&[gdk::FileList::static_type(), gdk::Texture::static_type()]);
        target.connect_drop(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            #[upgrade_or]
            false,
            move |_, value, _, _| {
                if let Ok(files) = value.get::<gdk::FileList>() {
                    if let Some(file) = files.files().first() {
                        dialog.scan_file(file);
                        return true;
                    }
                } else if let Ok(texture) = value.get::<gdk::Texture>() {
                    dialog.scan_texture(&texture);
                    return true;
                }
                false
            }
        ));
        self.add_controller(target);
    }

    fn set_busy(&self) {
        self.stop_camera();
        let imp = self.imp();
        imp.error_label.set_visible(false);
        imp.stack.set_visible_child_name("busy");
    }

    fn show_error(&self, message: &str) {
        self.stop_camera();
        let imp = self.imp();
        imp.summary.replace(None);
        imp.error_label.set_text(message);
        imp.error_label.set_visible(true);
        imp.stack.set_visible_child_name("start");
    }

    fn start_over(&self) {
        let imp = self.imp();
        imp.summary.replace(None);
        imp.uri.replace(None);
        imp.error_label.set_visible(false);
        imp.stack.set_visible_child_name("start");
        self.start_camera();
    }

    fn choose_file(&self) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Open a Picture of a QR Code")),
            Some(self),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("Images")));
        filter.add_pixbuf_formats();
        chooser.add_filter(&filter);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |chooser, response| {
                let file = chooser.file();
                dialog.imp().chooser.replace(None);
                if response == gtk::ResponseType::Accept
                    && let Some(file) = file
                {
                    dialog.scan_file(&file);
                }
            }
        ));
        chooser.show();
        // The native chooser is not kept alive by GTK.
        self.imp().chooser.replace(Some(chooser));
    }

    /// A pasted picture, or pasted text that is an `xmpp:` trust link.
    fn paste(&self) {
        let clipboard = self.clipboard();
        let formats = clipboard.formats();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                if formats.contains_type(gdk::Texture::static_type())
                    && let Ok(Some(texture)) = clipboard.read_texture_future().await
                {
                    return dialog.scan_texture(&texture);
                }
                match clipboard.read_text_future().await {
                    Ok(Some(text)) if text.trim().to_ascii_lowercase().starts_with("xmpp:") => {
                        dialog.scan_text(&text)
                    }
                    _ => dialog.show_error(&gettext(
                        "The clipboard holds neither a picture nor an xmpp: link.",
                    )),
                }
            }
        ));
    }

    fn verify(&self) {
        let imp = self.imp();
        let Some(uri) = imp.uri.borrow().clone() else {
            return;
        };
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let account = imp.account.borrow().clone();
        self.action_set_enabled("qr-scan.verify", false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                // The service checks against the server again before it
                // saves: what was previewed may have changed since.
                let result = service
                    .request(|reply| Command::ApplyQr {
                        account,
                        uri,
                        reply,
                    })
                    .await;
                match result {
                    Ok(summary) => {
                        dialog.toast(&result_message(&summary));
                        dialog.show_summary(summary);
                    }
                    Err(error) => {
                        dialog.show_error(&error.user_message());
                    }
                }
            }
        ));
    }

    fn add_contact(&self) {
        let imp = self.imp();
        let Some(jid) = imp.summary.borrow().as_ref().map(|s| s.jid.clone()) else {
            return;
        };
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let account = imp.account.borrow().clone();
        self.action_set_enabled("qr-scan.add-contact", false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::AddContact {
                        account,
                        jid: jid.clone(),
                        name: None,
                        reply,
                    })
                    .await;
                match result {
                    Ok(()) => {
                        dialog.imp().add_contact_button.set_visible(false);
                        dialog.toast(&gettext_f("Added {jid}", &[("jid", &jid)]));
                    }
                    Err(error) => {
                        dialog.action_set_enabled("qr-scan.add-contact", true);
                        dialog.toast(&error.user_message());
                    }
                }
            }
        ));
    }

    fn toast(&self, message: &str) {
        if let Some(window) = self.transient_for().and_downcast::<crate::ui::Window>() {
            window.add_toast(message);
        }
    }

    fn show_summary(&self, summary: QrSummary) {
        self.stop_camera();
        let imp = self.imp();
        let container = &imp.summary_box;
        while let Some(child) = container.first_child() {
            container.remove(&child);
        }

        let title = gtk::Label::builder()
            .label(&summary.jid)
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .selectable(true)
            .build();
        title.add_css_class("title-2");
        container.append(&title);

        let status = gtk::Label::builder()
            .label(status_message(&summary))
            .wrap(true)
            .justify(gtk::Justification::Center)
            .build();
        status.set_widget_name("qr_status");
        if summary.mismatched > 0 {
            status.add_css_class("error");
            status.add_css_class("heading");
        } else if summary.not_published > 0 {
            status.add_css_class("warning");
        }
        container.append(&status);

        let list = gtk::ListBox::new();
        list.set_selection_mode(gtk::SelectionMode::None);
        list.add_css_class("boxed-list");
        for check in &summary.devices {
            list.append(&device_row(check, &summary));
        }
        container.append(&list);

        if !summary.applied {
            let note = gtk::Label::builder()
                .label(gettext(
                    "Nothing is saved until you verify. Devices that are not in the code keep their trust.",
                ))
                .wrap(true)
                .xalign(0.0)
                .build();
            note.add_css_class("dim-label");
            note.add_css_class("caption");
            container.append(&note);
        }

        let n = summary.verified;
        imp.verify_button.set_visible(!summary.applied);
        imp.verify_button.set_label(&if n == 0 {
            gettext("Nothing to Verify")
        } else {
            ngettext_f(
                "_Verify {n} Device",
                "_Verify {n} Devices",
                n,
                &[("n", &n.to_string())],
            )
        });
        self.action_set_enabled("qr-scan.verify", !summary.applied && n > 0);
        imp.cancel_button.set_label(&if summary.applied {
            gettext("_Close")
        } else {
            gettext("_Cancel")
        });
        let offer_contact = !summary.is_contact && !summary.own_account;
        imp.add_contact_button.set_visible(offer_contact);
        self.action_set_enabled("qr-scan.add-contact", offer_contact);
        if offer_contact {
            imp.add_contact_button.set_tooltip_text(Some(&gettext_f(
                "Add {jid} to your contacts and ask to see their status",
                &[("jid", &summary.jid)],
            )));
        }
        imp.summary.replace(Some(summary));
        imp.stack.set_visible_child_name("summary");
    }
}

/// From the camera's threads to the main loop (frames go separately).
enum CameraNews {
    Found(FoundCode),
    Failed(CameraError),
}

/// The line above the devices: what the code does, problems first.
fn status_message(summary: &QrSummary) -> String {
    let n = |v: u32| v.to_string();
    if summary.mismatched > 0 {
        return ngettext_f(
            "Warning: {n} key in this code does not match what the server publishes. It will not be trusted.",
            "Warning: {n} keys in this code do not match what the server publishes. They will not be trusted.",
            summary.mismatched,
            &[("n", &n(summary.mismatched))],
        );
    }
    if summary.applied {
        return result_message(summary);
    }
    if summary.verified == 0 && summary.not_published == 0 {
        return gettext("Every device in this code is verified already.");
    }
    ngettext_f(
        "{n} device will be verified.",
        "{n} devices will be verified.",
        summary.verified,
        &[("n", &n(summary.verified))],
    )
}

/// After saving: "n verified, m flagged", as a toast and in the dialog.
fn result_message(summary: &QrSummary) -> String {
    let verified = ngettext_f(
        "{n} device verified",
        "{n} devices verified",
        summary.verified,
        &[("n", &summary.verified.to_string())],
    );
    match summary.flagged() {
        0 => verified,
        m => ngettext_f(
            "{verified}, {m} not trusted",
            "{verified}, {m} not trusted",
            m,
            &[("verified", &verified), ("m", &m.to_string())],
        ),
    }
}

/// One device of the code: which, what will happen, and the key itself.
fn device_row(check: &QrCheck, summary: &QrSummary) -> gtk::ListBoxRow {
    let row = gtk::ListBoxRow::builder().activatable(false).build();
    let body = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(6)
        .margin_top(12)
        .margin_bottom(12)
        .margin_start(12)
        .margin_end(12)
        .build();
    let name = match check.device_id {
        Some(id) => gettext_f("Device {id}", &[("id", &id.to_string())]),
        None => gettext("A key without a device"),
    };
    let heading = gtk::Label::builder().label(name).xalign(0.0).build();
    heading.add_css_class("heading");
    body.append(&heading);

    let (text, class) = outcome_text(check.outcome, summary);
    let outcome = gtk::Label::builder()
        .label(text)
        .xalign(0.0)
        .wrap(true)
        .build();
    outcome.set_widget_name("qr_outcome");
    if let Some(class) = class {
        outcome.add_css_class(class);
    }
    if check.outcome == QrOutcome::Mismatch {
        outcome.add_css_class("heading");
        row.add_css_class("qr-mismatch");
    }
    body.append(&outcome);

    let fingerprint = gtk::Label::builder()
        .label(super::super::format::fingerprint(&check.fingerprint))
        .xalign(0.0)
        .selectable(true)
        .build();
    fingerprint.add_css_class("monospace");
    // The key in the code is the suspect one, not the published one.
    if check.outcome == QrOutcome::Mismatch {
        fingerprint.add_css_class("error");
    }
    body.append(&fingerprint);
    if let Some(published) = &check.published {
        let caption = gtk::Label::builder()
            .label(gettext("The server publishes:"))
            .xalign(0.0)
            .build();
        caption.add_css_class("caption");
        caption.add_css_class("dim-label");
        body.append(&caption);
        let published = gtk::Label::builder()
            .label(super::super::format::fingerprint(published))
            .xalign(0.0)
            .selectable(true)
            .build();
        published.add_css_class("monospace");
        body.append(&published);
    }
    row.set_child(Some(&body));
    row
}

fn outcome_text(outcome: QrOutcome, summary: &QrSummary) -> (String, Option<&'static str>) {
    match outcome {
        QrOutcome::Verify if summary.applied => (gettext("Verified"), Some("success")),
        QrOutcome::Verify => (gettext("Will be verified"), Some("success")),
        QrOutcome::AlreadyVerified => (gettext("Already verified"), Some("dim-label")),
        QrOutcome::Mismatch => (
            gettext_f(
                "MISMATCH: the key this code shows differs from what {jid} publishes — not trusted",
                &[("jid", &summary.jid)],
            ),
            Some("error"),
        ),
        QrOutcome::NotPublished => (
            gettext_f(
                "Not published: {jid} does not list this device, so there is nothing to verify",
                &[("jid", &summary.jid)],
            ),
            Some("warning"),
        ),
        QrOutcome::ThisDevice => (gettext("This device"), Some("dim-label")),
    }
}

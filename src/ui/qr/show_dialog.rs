//! "Show My QR Code": this account's trust code, large and crisp, with the
//! fingerprints written out below it for reading aloud (issue 7).

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gdk, gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::qr::QrMatrix;
use crate::service::{Command, OwnQrCode};
use crate::ui::application::Application;

/// About this many pixels per side on screen; the scale is the largest
/// integer that fits, so every module is whole pixels (no blur).
const TARGET_SIZE: u32 = 360;
/// Pixels per module in a saved PNG: big enough to print or show on a
/// screen across a table.
const PNG_SCALE: u32 = 10;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct QrShowDialog {
        pub account: RefCell<String>,
        pub code: RefCell<Option<OwnQrCode>>,
        pub texture: RefCell<Option<gdk::Texture>>,
        pub stack: gtk::Stack,
        pub error_page: adw::StatusPage,
        pub picture: gtk::Image,
        pub jid_label: gtk::Label,
        pub devices_box: gtk::Box,
        pub chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QrShowDialog {
        const NAME: &'static str = "SottoQrShowDialog";
        type Type = super::QrShowDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("qr-show.copy", None, |dialog, _, _| dialog.copy_link());
            klass.install_action("qr-show.save", None, |dialog, _, _| dialog.save_image());
            klass.add_binding_action(gdk::Key::Escape, gdk::ModifierType::empty(), "window.close");
        }
    }

    impl ObjectImpl for QrShowDialog {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().build();
        }
    }

    impl WidgetImpl for QrShowDialog {}
    impl WindowImpl for QrShowDialog {}
    impl AdwWindowImpl for QrShowDialog {}
}

glib::wrapper! {
    pub struct QrShowDialog(ObjectSubclass<imp::QrShowDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl QrShowDialog {
    /// The dialog for `account`; it asks the service for the code at once.
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .property("modal", true)
            .build();
        dialog.imp().account.replace(account.to_owned());
        dialog.load();
        dialog
    }

    /// The code shown, once the service gave it.
    pub fn code(&self) -> Option<OwnQrCode> {
        self.imp().code.borrow().clone()
    }

    /// The texture drawn (whole pixels per module, quiet zone included).
    pub fn texture(&self) -> Option<gdk::Texture> {
        self.imp().texture.borrow().clone()
    }

    fn build(&self) {
        let imp = self.imp();
        self.set_title(Some(&gettext("My QR Code")));
        self.set_default_size(480, 660);

        let header = adw::HeaderBar::new();
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&header);

        let spinner = gtk::Spinner::builder()
            .spinning(true)
            .width_request(32)
            .height_request(32)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Center)
            .build();
        imp.stack.add_named(&spinner, Some("loading"));

        imp.error_page
            .set_icon_name(Some("dialog-warning-symbolic"));
        imp.error_page
            .set_title(&gettext("The Code Cannot Be Shown"));
        imp.stack.add_named(&imp.error_page, Some("error"));

        let page = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .margin_top(12)
            .margin_bottom(24)
            .margin_start(24)
            .margin_end(24)
            .build();
        // An image at exactly the texture's size: whole pixels per module,
        // never shrunk or stretched (a GtkPicture would grow with the
        // dialog's width).
        imp.picture.set_halign(gtk::Align::Center);
        imp.picture.set_widget_name("qr_picture");
        imp.picture.set_tooltip_text(Some(&gettext(
            "QR code with this account's address and device fingerprints",
        )));
        page.append(&imp.picture);

        imp.jid_label.add_css_class("title-3");
        imp.jid_label.set_selectable(true);
        imp.jid_label.set_wrap(true);
        imp.jid_label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
        imp.jid_label.set_widget_name("qr_jid");
        page.append(&imp.jid_label);

        let hint = gtk::Label::builder()
            .label(gettext(
                "Let your contact scan this code, or read the fingerprints below aloud and compare them on their screen.",
            ))
            .wrap(true)
            .justify(gtk::Justification::Center)
            .build();
        hint.add_css_class("dim-label");
        page.append(&hint);

        imp.devices_box.set_orientation(gtk::Orientation::Vertical);
        imp.devices_box.set_spacing(12);
        page.append(&imp.devices_box);

        let buttons = gtk::Box::builder()
            .spacing(12)
            .halign(gtk::Align::Center)
            .homogeneous(true)
            .build();
        let copy = gtk::Button::builder()
            .label(gettext("_Copy Link"))
            .use_underline(true)
            .action_name("qr-show.copy")
            .build();
        copy.add_css_class("pill");
        let save = gtk::Button::builder()
            .label(gettext("_Save as Image…"))
            .use_underline(true)
            .action_name("qr-show.save")
            .build();
        save.add_css_class("pill");
        buttons.append(&copy);
        buttons.append(&save);
        page.append(&buttons);

        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .child(&page)
            .build();
        imp.stack.add_named(&scrolled, Some("code"));
        imp.stack.set_vexpand(true);
        content.append(&imp.stack);
        self.set_content(Some(&content));
        self.action_set_enabled("qr-show.copy", false);
        self.action_set_enabled("qr-show.save", false);
    }

    fn load(&self) {
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            self.show_error(&gettext("Sotto is still starting. Try again in a moment."));
            return;
        };
        let account = self.imp().account.borrow().clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::OwnQrUri { account, reply })
                    .await;
                match result {
                    Ok(code) => dialog.set_code(code),
                    Err(error) => dialog.show_error(&error.user_message()),
                }
            }
        ));
    }

    fn show_error(&self, message: &str) {
        let imp = self.imp();
        imp.error_page.set_description(Some(message));
        imp.stack.set_visible_child_name("error");
    }

    fn set_code(&self, code: OwnQrCode) {
        let imp = self.imp();
        let matrix = match QrMatrix::encode(&code.uri) {
            Ok(matrix) => matrix,
            Err(error) => return self.show_error(&error.user_message()),
        };
        let pixels = match matrix.to_rgba(matrix.scale_to_fit(TARGET_SIZE)) {
            Ok(pixels) => pixels,
            Err(error) => return self.show_error(&error.user_message()),
        };
        let texture = gdk::MemoryTexture::new(
            pixels.width as i32,
            pixels.height as i32,
            gdk::MemoryFormat::R8g8b8a8,
            &glib::Bytes::from_owned(pixels.data),
            pixels.stride,
        )
        .upcast::<gdk::Texture>();
        imp.picture.set_paintable(Some(&texture));
        imp.picture.set_pixel_size(texture.width());
        imp.texture.replace(Some(texture));

        imp.jid_label.set_text(&code.account);

        while let Some(child) = imp.devices_box.first_child() {
            imp.devices_box.remove(&child);
        }
        // The service lists this device first.
        for device in &code.devices {
            imp.devices_box.append(&device_block(device));
        }
        imp.code.replace(Some(code));
        self.action_set_enabled("qr-show.copy", true);
        self.action_set_enabled("qr-show.save", true);
        imp.stack.set_visible_child_name("code");
    }

    fn copy_link(&self) {
        let Some(code) = self.code() else { return };
        self.clipboard().set_text(&code.uri);
        self.add_toast(&gettext("Link copied"));
    }

    fn add_toast(&self, message: &str) {
        if let Some(window) = self.transient_for().and_downcast::<crate::ui::Window>() {
            window.add_toast(message);
        }
    }

    fn save_image(&self) {
        let Some(code) = self.code() else { return };
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Save QR Code")),
            Some(self),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let name = code
            .uri
            .trim_start_matches("xmpp:")
            .split(['?', '@'])
            .next()
            .filter(|n| !n.is_empty())
            .map(|n| format!("{n}-qr.png"))
            .unwrap_or_else(|| "sotto-qr.png".to_owned());
        chooser.set_current_name(&name);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |chooser, response| {
                let path = chooser.file().and_then(|f| f.path());
                dialog.imp().chooser.replace(None);
                if response != gtk::ResponseType::Accept {
                    return;
                }
                if let Some(path) = path {
                    dialog.write_png(code.uri.clone(), path);
                }
            }
        ));
        chooser.show();
        // The native chooser is not kept alive by GTK.
        self.imp().chooser.replace(Some(chooser));
    }

    fn write_png(&self, uri: String, path: std::path::PathBuf) {
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let shown = path.display().to_string();
                let written = gio::spawn_blocking(move || {
                    QrMatrix::encode(&uri).and_then(|m| m.write_png(&path, PNG_SCALE))
                })
                .await;
                let message = match written {
                    Ok(Ok(())) => gettext_f("Saved to {path}", &[("path", &shown)]),
                    Ok(Err(error)) => error.user_message(),
                    Err(_) => gettext("The picture could not be saved."),
                };
                dialog.add_toast(&message);
            }
        ));
    }
}

/// One device under the code: its name, and its fingerprint in blocks.
fn device_block(device: &crate::service::QrDevice) -> gtk::Box {
    let block = gtk::Box::new(gtk::Orientation::Vertical, 4);
    let id = device.device_id.to_string();
    let title = match (&device.label, device.this_device) {
        (Some(label), true) => gettext_f(
            "This device — {label} ({id})",
            &[("label", label), ("id", &id)],
        ),
        (None, true) => gettext_f("This device ({id})", &[("id", &id)]),
        (Some(label), false) => gettext_f("{label} ({id})", &[("label", label), ("id", &id)]),
        (None, false) => gettext_f("Device {id}", &[("id", &id)]),
    };
    let heading = gtk::Label::builder().label(title).xalign(0.0).build();
    heading.add_css_class("heading");
    block.append(&heading);
    let fingerprint = gtk::Label::builder()
        .label(super::super::format::fingerprint(&device.fingerprint))
        .xalign(0.0)
        .selectable(true)
        .build();
    fingerprint.add_css_class("monospace");
    fingerprint.add_css_class("qr-fingerprint");
    block.append(&fingerprint);
    block
}

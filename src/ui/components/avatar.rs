//! A round avatar with the contact's initials on their XEP-0392 colour, so
//! a contact looks the same here as in other XMPP clients.

use std::cell::{Cell, RefCell};

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{glib, graphene, gsk, pango};

use super::consistent_color;

mod imp {
    use super::*;

    #[derive(Debug, glib::Properties)]
    #[properties(wrapper_type = super::Avatar)]
    pub struct Avatar {
        /// The name the initials come from.
        #[property(get, set = Self::set_text)]
        pub text: RefCell<String>,
        /// What the colour is derived from: the bare JID.
        #[property(get, set = Self::set_seed)]
        pub seed: RefCell<String>,
        /// Diameter in logical pixels.
        #[property(get, set = Self::set_size, minimum = 16, maximum = 512, default = 40)]
        pub size: Cell<i32>,
        pub label: gtk::Label,
        pub color: Cell<(f32, f32, f32)>,
    }

    impl Default for Avatar {
        fn default() -> Self {
            Self {
                text: Default::default(),
                seed: Default::default(),
                size: Cell::new(40),
                label: gtk::Label::new(None),
                color: Cell::new((0.6, 0.6, 0.6)),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Avatar {
        const NAME: &'static str = "SottoAvatar";
        type Type = super::Avatar;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.set_css_name("sotto-avatar");
            // Decoration: the name next to it is what a screen reader reads.
            klass.set_accessible_role(gtk::AccessibleRole::Presentation);
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for Avatar {
        fn constructed(&self) {
            self.parent_constructed();
            self.label.add_css_class("initials");
            self.label.set_parent(&*self.obj());
            self.update_font();
        }

        fn dispose(&self) {
            self.label.unparent();
        }
    }

    impl WidgetImpl for Avatar {
        fn measure(&self, _orientation: gtk::Orientation, _for_size: i32) -> (i32, i32, i32, i32) {
            let size = self.size.get();
            (size, size, -1, -1)
        }

        fn size_allocate(&self, width: i32, height: i32, baseline: i32) {
            self.label.allocate(width, height, baseline, None);
        }

        fn snapshot(&self, snapshot: &gtk::Snapshot) {
            let widget = self.obj();
            let size = widget.width().min(widget.height()) as f32;
            let x = (widget.width() as f32 - size) / 2.0;
            let y = (widget.height() as f32 - size) / 2.0;
            let bounds = graphene::Rect::new(x, y, size, size);
            let (r, g, b) = self.color.get();
            // A light-to-full gradient, as GNOME's own avatars have.
            let lighten = |c: f32| c + (1.0 - c) * 0.2;
            let top = gtk::gdk::RGBA::new(lighten(r), lighten(g), lighten(b), 1.0);
            let bottom = gtk::gdk::RGBA::new(r, g, b, 1.0);
            snapshot.push_rounded_clip(&gsk::RoundedRect::from_rect(bounds, size / 2.0));
            snapshot.append_linear_gradient(
                &bounds,
                &graphene::Point::new(x, y),
                &graphene::Point::new(x, y + size),
                &[
                    gsk::ColorStop::new(0.0, top),
                    gsk::ColorStop::new(1.0, bottom),
                ],
            );
            snapshot.pop();
            widget.snapshot_child(&self.label, snapshot);
        }
    }

    impl Avatar {
        fn set_text(&self, text: String) {
            self.label.set_text(&super::initials(&text));
            self.text.replace(text);
        }

        fn set_seed(&self, seed: String) {
            let (r, g, b) = consistent_color::rgb(&seed);
            self.color.set((r as f32, g as f32, b as f32));
            self.seed.replace(seed);
            self.obj().queue_draw();
        }

        fn set_size(&self, size: i32) {
            self.size.set(size);
            self.update_font();
            self.obj().queue_resize();
        }

        fn update_font(&self) {
            let attrs = pango::AttrList::new();
            let points = (self.size.get() as f64 * 0.4 * pango::SCALE as f64) as i32;
            attrs.insert(pango::AttrSize::new_size_absolute(points));
            attrs.insert(pango::AttrInt::new_weight(pango::Weight::Bold));
            self.label.set_attributes(Some(&attrs));
        }
    }
}

glib::wrapper! {
    pub struct Avatar(ObjectSubclass<imp::Avatar>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Avatar {
    pub fn new() -> Self {
        glib::Object::new()
    }
}

impl Default for Avatar {
    fn default() -> Self {
        Self::new()
    }
}

/// Up to two initials: of the first and the last word.
fn initials(name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || c == '.' || c == '_' || c == '-')
        .filter(|w| w.chars().next().is_some_and(char::is_alphanumeric))
        .collect();
    let first = |w: &&str| {
        w.chars()
            .next()
            .map(|c| c.to_uppercase().collect::<String>())
    };
    match words.as_slice() {
        [] => name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default(),
        [one] => first(one).unwrap_or_default(),
        [head, .., tail] => format!(
            "{}{}",
            first(head).unwrap_or_default(),
            first(tail).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_take_first_and_last_word() {
        assert_eq!(initials("bob"), "B");
        assert_eq!(initials("Ada King Lovelace"), "AL");
        assert_eq!(initials("jürgen.müller"), "JM");
        assert_eq!(initials(""), "");
        assert_eq!(initials("?!"), "?");
    }
}

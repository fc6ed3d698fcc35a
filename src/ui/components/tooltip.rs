//! Tooltips set without a pointer query.
//!
//! In GTK 4.8 `gtk_widget_set_tooltip_text` on a visible widget re-queries
//! the tooltip at once, and on X11 that is a synchronous round trip to ask
//! where the pointer is (`XIQueryPointer`). Rows that set their tooltips on
//! every update paid that per row and per update (~15 % of launch with 200
//! conversations and 200 contacts). Here the text is only stored; GTK asks
//! for it through `query-tooltip` when the pointer rests on the widget.

use gtk::glib::translate::ToGlibPtr;
use gtk::prelude::*;
use gtk::{ffi, glib};

const KEY: &str = "sotto-lazy-tooltip";

/// Shows `text` as `widget`'s tooltip (none when `None` or empty), like
/// `set_tooltip_text`, and gives it to screen readers as the description.
pub fn set_lazy_tooltip(widget: &impl IsA<gtk::Widget>, text: Option<&str>) {
    let widget = widget.as_ref();
    let text = text.filter(|t| !t.is_empty()).map(str::to_owned);
    // SAFETY: KEY is only ever stored as `Option<String>`, here.
    let known = unsafe { widget.data::<Option<String>>(KEY) };
    if let Some(old) = known {
        // SAFETY: as above; the pointer lives as long as the widget's data.
        if unsafe { old.as_ref() } == &text {
            return;
        }
    } else {
        widget.connect_query_tooltip(|widget, _, _, _, tooltip| {
            // SAFETY: as above.
            let text = unsafe { widget.data::<Option<String>>(KEY) }
                .and_then(|t| unsafe { t.as_ref() }.clone());
            match text {
                Some(text) => {
                    tooltip.set_text(Some(&text));
                    true
                }
                None => false,
            }
        });
    }
    set_description(widget, text.as_deref());
    widget.set_has_tooltip(text.is_some());
    // SAFETY: as above.
    unsafe { widget.set_data(KEY, text) };
}

// In GTK since 4.0; gtk4-rs binds it only with its `v4_10` feature.
unsafe extern "C" {
    fn gtk_accessible_update_property_value(
        accessible: *mut ffi::GtkAccessible,
        n_properties: std::ffi::c_int,
        properties: *mut ffi::GtkAccessibleProperty,
        values: *const glib::gobject_ffi::GValue,
    );
}

/// What `set_tooltip_text` also does: the text becomes the accessible
/// description (read after the name).
fn set_description(widget: &gtk::Widget, text: Option<&str>) {
    let value = text.to_value();
    let mut property = ffi::GTK_ACCESSIBLE_PROPERTY_DESCRIPTION;
    // SAFETY: a live widget (every GtkWidget is a GtkAccessible), one
    // property, one GValue of the type GTK expects for it (a string, NULL
    // allowed).
    unsafe {
        gtk_accessible_update_property_value(
            widget.as_ptr().cast::<ffi::GtkAccessible>(),
            1,
            &mut property,
            value.to_glib_none().0,
        );
    }
}

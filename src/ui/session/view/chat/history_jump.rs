//! Going to one message of the history (a search result): the timeline
//! loads a page around it, the list scrolls it to the middle of the view,
//! and it is highlighted for a moment so the eye finds it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gtk::glib;
use gtk::prelude::*;

use super::MessageRow;
use crate::ui::session::model::Timeline;

/// How long the found message stays highlighted.
const HIGHLIGHT: Duration = Duration::from_millis(2500);
/// Frames to wait for the row to be laid out in view (about two seconds)
/// before giving up.
const MAX_FRAMES: u32 = 120;
/// The style class of the highlighted row (style.css).
pub const HIGHLIGHT_CLASS: &str = "search-highlight";

#[derive(Debug, Default)]
struct State {
    /// The message to bring into view once it is loaded.
    target: Cell<Option<i64>>,
    /// The message highlighted now.
    highlighted: Cell<Option<i64>>,
    unhighlight: RefCell<Option<glib::SourceId>>,
    tick: RefCell<Option<gtk::TickCallbackId>>,
    /// The list whose rows carry the highlight.
    list: glib::WeakRef<gtk::ListView>,
}

impl State {
    fn unhighlight_rows(&self) {
        self.highlighted.set(None);
        if let Some(list) = self.list.upgrade() {
            for row in rows_of(&list) {
                row.remove_css_class(HIGHLIGHT_CLASS);
            }
        }
    }
}

/// Shared with the frame and timer callbacks it starts.
#[derive(Debug, Default)]
pub struct HistoryJump(Rc<State>);

impl HistoryJump {
    /// Go to message `id` of `timeline`: loads the page around it unless
    /// it is loaded already. Call [`HistoryJump::reveal`] when the timeline
    /// has loaded.
    pub fn start(&self, id: i64, timeline: &Timeline) {
        self.cancel();
        self.0.target.set(Some(id));
        if timeline.position(id).is_none() {
            timeline.load_around(id);
        }
    }

    /// Whether a jump waits for its page.
    pub fn is_pending(&self) -> bool {
        self.0.target.get().is_some()
    }

    /// Whether the row of message `id` should look highlighted (rows are
    /// recycled: the list asks when it binds one).
    pub fn is_highlighted(&self, id: i64) -> bool {
        self.0.highlighted.get() == Some(id)
    }

    pub fn cancel(&self) {
        let state = &self.0;
        state.target.set(None);
        state.unhighlight_rows();
        if let Some(source) = state.unhighlight.take() {
            source.remove();
        }
        if let Some(tick) = state.tick.take() {
            tick.remove();
        }
    }

    /// Once the target is loaded: scroll it into view, then centre and
    /// highlight it when its row is laid out. A target the conversation
    /// no longer has is dropped (the timeline shows the latest page then).
    pub fn reveal(
        &self,
        list_view: &gtk::ListView,
        scrolled: &gtk::ScrolledWindow,
        timeline: &Timeline,
    ) {
        let state = &self.0;
        let Some(id) = state.target.get() else {
            return;
        };
        if timeline.loading() || !timeline.loaded() {
            return;
        }
        state.target.set(None);
        if timeline.position(id).is_none() {
            return;
        }
        state.list.set(Some(list_view));
        let frames = Cell::new(0);
        let (scrolled, timeline) = (scrolled.clone(), timeline.clone());
        let weak = Rc::downgrade(&self.0);
        // Until the list has laid the new items out it cannot scroll to
        // one, so ask again each frame until the row is on screen.
        let tick = list_view.add_tick_callback(move |list_view, _| {
            let Some(state) = weak.upgrade() else {
                return glib::ControlFlow::Break;
            };
            frames.set(frames.get() + 1);
            let page = scrolled.vadjustment().page_size() as f32;
            let row = rows_of(list_view).find(|r| {
                r.item().is_some_and(|i| i.id() == id)
                    && r.is_mapped()
                    && r.compute_bounds(&scrolled).is_some_and(|b| {
                        b.height() > 0.0 && b.y() + b.height() > 0.0 && b.y() < page
                    })
            });
            let Some(row) = row else {
                let position = timeline.position(id);
                if frames.get() >= MAX_FRAMES || position.is_none() {
                    state.tick.take();
                    return glib::ControlFlow::Break;
                }
                // GTK 4.8 has no ListView::scroll_to; the list's action
                // scrolls by item, whatever the estimated row heights.
                let _ = list_view.activate_action(
                    "list.scroll-to-item",
                    position.map(|p| p.to_variant()).as_ref(),
                );
                return glib::ControlFlow::Continue;
            };
            if let Some(bounds) = row.compute_bounds(&scrolled) {
                let adjustment = scrolled.vadjustment();
                let middle = f64::from(bounds.y() + bounds.height() / 2.0);
                adjustment.set_value(adjustment.value() + middle - adjustment.page_size() / 2.0);
            }
            state.tick.take();
            state.highlighted.set(Some(id));
            row.add_css_class(HIGHLIGHT_CLASS);
            let weak = Rc::downgrade(&state);
            let source = glib::timeout_add_local_once(HIGHLIGHT, move || {
                if let Some(state) = weak.upgrade() {
                    state.unhighlight.take();
                    // Whichever row shows it now (the list recycles rows).
                    state.unhighlight_rows();
                }
            });
            if let Some(old) = state.unhighlight.replace(Some(source)) {
                old.remove();
            }
            glib::ControlFlow::Break
        });
        if let Some(old) = state.tick.replace(Some(tick)) {
            old.remove();
        }
    }
}

/// The message rows the list has now (each list item widget holds one).
fn rows_of(list_view: &gtk::ListView) -> impl Iterator<Item = MessageRow> {
    let mut child = list_view.first_child();
    std::iter::from_fn(move || {
        let current = child.take()?;
        child = current.next_sibling();
        Some(current)
    })
    .filter_map(|item| item.first_child().and_downcast::<MessageRow>())
}

//! Widgets used in more than one place.

mod avatar;
mod confirm;
pub mod consistent_color;
mod tooltip;

pub use avatar::Avatar;
pub use confirm::confirm_removal;
pub use tooltip::set_lazy_tooltip;

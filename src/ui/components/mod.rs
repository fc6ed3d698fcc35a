//! Widgets used in more than one place.

mod apply_row;
mod avatar;
mod confirm;
pub mod consistent_color;
mod tooltip;

pub use apply_row::ApplyRow;
pub use avatar::Avatar;
pub use confirm::{confirm_destructive, confirm_removal};
pub use tooltip::set_lazy_tooltip;

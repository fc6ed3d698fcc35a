//! Widgets used in more than one place.

mod avatar;
mod confirm;
pub mod consistent_color;

pub use avatar::Avatar;
pub use confirm::confirm_removal;

//! Widgets used in more than one place.

mod avatar;
pub mod consistent_color;

pub use avatar::Avatar;

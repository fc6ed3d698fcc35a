//! The chat: history, message bubbles and the composer.

mod chat_view;
mod composer;
mod encryption_details;
mod history_jump;
mod message_row;
mod trust_banner;

pub use chat_view::ChatView;
pub use composer::{Composer, EncryptionState};
pub use message_row::MessageRow;
pub use trust_banner::TrustBanner;

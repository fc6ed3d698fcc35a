//! The chat: history, message bubbles and the composer.

mod chat_view;
mod composer;
mod message_row;

pub use chat_view::ChatView;
pub use composer::{Composer, EncryptionState};
pub use message_row::MessageRow;

//! GObject models of what the service reports.

mod account;
mod contact;
mod conversation;
mod message;
mod rooms;
mod session;
mod subscription_request;
mod timeline;

pub use account::AccountItem;
pub use contact::{ContactItem, Presence};
pub use conversation::{Conversation, EncryptionChoice};
pub use message::{MessageItem, MessageState};
pub use rooms::{RoomInvitation, Rooms};
pub use session::Session;
pub use subscription_request::SubscriptionRequest;
pub use timeline::{PAGE_SIZE, Timeline};

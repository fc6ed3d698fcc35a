//! GObject models of what the service reports.

mod account;
mod contact;
mod session;
mod subscription_request;

pub use account::AccountItem;
pub use contact::{ContactItem, Presence};
pub use session::Session;
pub use subscription_request::SubscriptionRequest;

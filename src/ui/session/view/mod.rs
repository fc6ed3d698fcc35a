//! Widgets of the signed-in window.

mod add_contact_dialog;
pub mod chat;
mod connection_banner;
mod contact_details;
mod contact_row;
mod conversation_row;
mod create_group_dialog;
mod device_list;
mod form_dialog;
mod invitation_row;
mod join_channel_dialog;
mod member_picker;
mod new_chat_dialog;
mod room_details;
mod search_result_row;
mod search_results;
mod session_view;
mod sidebar;
mod subscription_request_row;

pub use add_contact_dialog::AddContactDialog;
pub use connection_banner::ConnectionBanner;
pub use contact_details::ContactDetails;
pub use contact_row::ContactRow;
pub use conversation_row::ConversationRow;
pub use create_group_dialog::CreateGroupDialog;
pub use device_list::DeviceList;
pub use invitation_row::InvitationRow;
pub use join_channel_dialog::JoinChannelDialog;
pub use member_picker::MemberPicker;
pub use new_chat_dialog::NewChatDialog;
pub use room_details::RoomDetails;
pub use search_result_row::SearchResultRow;
pub use search_results::SearchResults;
pub use session_view::SessionView;
pub use sidebar::Sidebar;
pub use subscription_request_row::SubscriptionRequestRow;

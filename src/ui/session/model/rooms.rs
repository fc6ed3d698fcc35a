//! What the service reports about group chats and channels (XEP-0045):
//! the latest `RoomInfo` of every room seen, pending invitations, and
//! signals for the views that show a room (its details, its chat).

use std::cell::RefCell;
use std::collections::HashMap;

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use crate::service::{Event, RoomInfo};

mod invitation_imp {
    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::RoomInvitation)]
    pub struct RoomInvitation {
        #[property(get, set, construct_only)]
        pub account: RefCell<String>,
        #[property(get, set, construct_only)]
        pub room: RefCell<String>,
        #[property(get, set, construct_only)]
        pub from: RefCell<String>,
        #[property(get, set, construct_only, nullable)]
        pub reason: RefCell<Option<String>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomInvitation {
        const NAME: &'static str = "SottoRoomInvitation";
        type Type = super::RoomInvitation;
    }

    #[glib::derived_properties]
    impl ObjectImpl for RoomInvitation {}
}

glib::wrapper! {
    /// Someone asks us into a room; answered with Join or Dismiss.
    pub struct RoomInvitation(ObjectSubclass<invitation_imp::RoomInvitation>);
}

impl RoomInvitation {
    pub fn new(account: &str, room: &str, from: &str, reason: Option<&str>) -> Self {
        glib::Object::builder()
            .property("account", account)
            .property("room", room)
            .property("from", from)
            .property("reason", reason)
            .build()
    }
}

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug)]
    pub struct Rooms {
        pub rooms: RefCell<HashMap<(String, String), RoomInfo>>,
        /// Counts the updates of each room, so that a reply computed
        /// before an event does not overwrite what the event said.
        pub generations: RefCell<HashMap<(String, String), u64>>,
        pub invitations: gio::ListStore,
    }

    impl Default for Rooms {
        fn default() -> Self {
            Self {
                rooms: Default::default(),
                generations: Default::default(),
                invitations: gio::ListStore::new::<RoomInvitation>(),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Rooms {
        const NAME: &'static str = "SottoRooms";
        type Type = super::Rooms;
    }

    impl ObjectImpl for Rooms {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    // (account, room): its participants, subject or state changed.
                    glib::subclass::Signal::builder("room-changed")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                    // (account, room, reason): we are no longer in it.
                    glib::subclass::Signal::builder("room-left")
                        .param_types([
                            String::static_type(),
                            String::static_type(),
                            String::static_type(),
                        ])
                        .build(),
                ]
            })
        }
    }
}

glib::wrapper! {
    pub struct Rooms(ObjectSubclass<imp::Rooms>);
}

impl Default for Rooms {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl Rooms {
    /// The latest known state of `room`, if the service reported it.
    pub fn room(&self, account: &str, room: &str) -> Option<RoomInfo> {
        self.imp()
            .rooms
            .borrow()
            .get(&(account.to_owned(), room.to_owned()))
            .cloned()
    }

    /// `RoomInvitation`s not answered yet.
    pub fn invitations(&self) -> gio::ListStore {
        self.imp().invitations.clone()
    }

    /// How often `room` was updated so far; see `update_unless_newer`.
    pub fn generation(&self, account: &str, room: &str) -> u64 {
        self.imp()
            .generations
            .borrow()
            .get(&(account.to_owned(), room.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// A reply to a request sent at `generation`: replies and events come
    /// on separate channels, so an event may have overtaken it and be
    /// newer. Then the reply is dropped.
    pub fn update_unless_newer(&self, room: &RoomInfo, generation: u64) {
        if self.generation(&room.account, &room.jid) == generation {
            self.update(room);
        }
    }

    /// Remember what the service said about a room.
    pub fn update(&self, room: &RoomInfo) {
        *self
            .imp()
            .generations
            .borrow_mut()
            .entry((room.account.clone(), room.jid.clone()))
            .or_default() += 1;
        self.imp()
            .rooms
            .borrow_mut()
            .insert((room.account.clone(), room.jid.clone()), room.clone());
        if room.joined {
            self.dismiss_invitation(&room.account, &room.jid);
        }
        self.emit_by_name::<()>("room-changed", &[&room.account, &room.jid]);
    }

    pub fn dismiss_invitation(&self, account: &str, room: &str) {
        let store = &self.imp().invitations;
        let mut i = 0;
        while i < store.n_items() {
            match store.item(i).and_downcast::<RoomInvitation>() {
                Some(inv) if inv.account() == account && inv.room() == room => store.remove(i),
                _ => i += 1,
            }
        }
    }

    pub fn apply(&self, event: &Event) {
        match event {
            Event::Room { room } => self.update(room),
            Event::RoomLeft {
                account,
                room,
                reason,
            } => {
                let known = self
                    .imp()
                    .rooms
                    .borrow_mut()
                    .get_mut(&(account.clone(), room.clone()))
                    .map(|info| info.joined = false)
                    .is_some();
                if known {
                    self.emit_by_name::<()>("room-changed", &[account, room]);
                }
                self.emit_by_name::<()>("room-left", &[account, room, reason]);
            }
            Event::Invitation {
                account,
                room,
                from,
                reason,
            } => {
                let joined = self.room(account, room).is_some_and(|r| r.joined);
                if !joined {
                    self.dismiss_invitation(account, room);
                    self.imp().invitations.append(&RoomInvitation::new(
                        account,
                        room,
                        from,
                        reason.as_deref(),
                    ));
                }
            }
            _ => {}
        }
    }

    pub fn connect_room_changed<F: Fn(&Self, &str, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("room-changed", false, move |args| {
            if let (Ok(rooms), Ok(account), Ok(room)) = (
                args[0].get::<Self>(),
                args[1].get::<String>(),
                args[2].get::<String>(),
            ) {
                f(&rooms, &account, &room);
            }
            None
        })
    }

    pub fn connect_room_left<F: Fn(&Self, &str, &str, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("room-left", false, move |args| {
            if let (Ok(rooms), Ok(account), Ok(room), Ok(reason)) = (
                args[0].get::<Self>(),
                args[1].get::<String>(),
                args[2].get::<String>(),
                args[3].get::<String>(),
            ) {
                f(&rooms, &account, &room, &reason);
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Affiliation;

    fn info(joined: bool, participants: usize) -> RoomInfo {
        RoomInfo {
            account: "alice@example.org".into(),
            jid: "team@conference.example.org".into(),
            name: None,
            nick: "alice".into(),
            kind: "group".into(),
            joined,
            subject: None,
            non_anonymous: true,
            members_only: true,
            public: false,
            persistent: true,
            archived: true,
            encryption_possible: true,
            encryption_reason: None,
            lists_refused: false,
            own_affiliation: Affiliation::Owner,
            own_role: Some("moderator".into()),
            subject_changeable: true,
            participants: (0..participants)
                .map(|i| crate::service::Participant {
                    jid: Some(format!("p{i}@example.org")),
                    nick: Some(format!("p{i}")),
                    affiliation: Affiliation::Member,
                    role: Some("participant".into()),
                    present: true,
                })
                .collect(),
        }
    }

    #[test]
    fn an_invitation_goes_once_the_room_is_joined() {
        let rooms = Rooms::default();
        let invite = Event::Invitation {
            account: "alice@example.org".into(),
            room: "team@conference.example.org".into(),
            from: "bob@example.org".into(),
            reason: None,
        };
        rooms.apply(&invite);
        rooms.apply(&invite);
        assert_eq!(rooms.invitations().n_items(), 1, "one row per room");
        rooms.apply(&Event::Room {
            room: info(true, 1),
        });
        assert_eq!(rooms.invitations().n_items(), 0);
        // Invited again while in the room: nothing to answer.
        rooms.apply(&invite);
        assert_eq!(rooms.invitations().n_items(), 0);
    }

    #[test]
    fn a_reply_overtaken_by_an_event_does_not_undo_it() {
        let rooms = Rooms::default();
        let (account, room) = ("alice@example.org", "team@conference.example.org");
        let asked_at = rooms.generation(account, room);
        rooms.apply(&Event::Room {
            room: info(true, 2),
        });
        rooms.update_unless_newer(&info(true, 1), asked_at);
        assert_eq!(rooms.room(account, room).unwrap().participants.len(), 2);
        let asked_at = rooms.generation(account, room);
        rooms.update_unless_newer(&info(true, 3), asked_at);
        assert_eq!(rooms.room(account, room).unwrap().participants.len(), 3);
    }

    #[test]
    fn leaving_marks_the_room_not_joined() {
        let rooms = Rooms::default();
        rooms.apply(&Event::Room {
            room: info(true, 1),
        });
        let left = std::rc::Rc::new(std::cell::RefCell::new(None));
        let seen = left.clone();
        rooms.connect_room_left(move |_, _, room, reason| {
            seen.replace(Some((room.to_owned(), reason.to_owned())));
        });
        rooms.apply(&Event::RoomLeft {
            account: "alice@example.org".into(),
            room: "team@conference.example.org".into(),
            reason: "You were banned from the room.".into(),
        });
        let room = rooms
            .room("alice@example.org", "team@conference.example.org")
            .unwrap();
        assert!(!room.joined);
        assert_eq!(
            left.borrow().as_ref().map(|(_, r)| r.as_str()),
            Some("You were banned from the room.")
        );
    }
}

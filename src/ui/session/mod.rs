//! The signed-in part of the window: models of the service's state and the
//! views over them.

pub mod model;
pub mod view;

//! GTK front end.

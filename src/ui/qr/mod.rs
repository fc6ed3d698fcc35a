//! Trust by QR code in the window (issue 7): show this account's code, and
//! scan a contact's. The codes themselves are `crate::qr`; what they mean
//! for trust is the service's `OwnQrUri`, `PreviewQr` and `ApplyQr`.

mod scan_dialog;
mod show_dialog;

pub use scan_dialog::QrScanDialog;
pub use show_dialog::QrShowDialog;

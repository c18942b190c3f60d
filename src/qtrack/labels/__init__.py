"""Labels: QR images, label templates, PDF sheets and ZPL for thermal printers."""

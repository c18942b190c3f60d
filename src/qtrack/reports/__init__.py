"""Reports: the end-of-day summary (what moved today), its page, files and e-mail."""

"""Published reports: one immutable version per (question, interval), with an index of them all."""

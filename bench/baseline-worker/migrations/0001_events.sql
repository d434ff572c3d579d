CREATE TABLE events (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
